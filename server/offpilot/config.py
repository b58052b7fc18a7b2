"""One settings object for the whole server.

Precedence, lowest first: defaults < the user config file
(``platformdirs.user_config_dir("offpilot")/config.toml``, or ``$OFFPILOT_CONFIG_DIR/config.toml``)
< environment (``OFFPILOT_<NAME>``) < the client's ``initializationOptions`` <
``workspace/configuration`` (section ``offpilot``).

Every setting has a camelCase name that is the same in the LSP options, the VS Code
``contributes.configuration`` (prefixed ``offpilot.``) and the README's table. A value of the
wrong type or out of range is reported and replaced by its default; it never stops the server.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_PREFIX = "OFFPILOT_"
CONFIG_DIR_ENV = "OFFPILOT_CONFIG_DIR"  # overrides the folder of the user config file
CONFIG_FILE = "config.toml"

# Where a value came from, lowest precedence first (``offpilot config`` shows them).
DEFAULT, CONFIG_FILE_SOURCE, ENVIRONMENT, EDITOR = (
    "default", "config file", "environment", "editor")


def _setting(default: Any, description: str, *, choices: tuple[str, ...] = (),
             minimum: float | None = None, maximum: float | None = None,
             editor_setting: bool = True, scope: str = "") -> Any:
    """``editor_setting=False``: set by the editor client itself, not a user setting there.
    ``scope``: the editor's setting scope where it is not the default (``machine``: only in the
    user's own settings, never in a workspace's)."""
    return field(default=default, metadata={
        "description": description, "choices": choices, "minimum": minimum, "maximum": maximum,
        "editor_setting": editor_setting, "scope": scope,
    })


@dataclass(frozen=True)
class Settings:
    """Offpilot's settings. Field names are snake_case; their wire names are camelCase."""

    model: str = _setting(
        "", "Completion model: a .gguf path, a profile name (see `offpilot models list`) or "
        "empty for the embedded default (Gemma 3 270M).")
    chat_model: str = _setting(
        "", "Model for Explain and Generate Tests; empty means the completion model.")
    prompt_mode: str = _setting(
        "auto", "How completions are prompted: auto (from the GGUF metadata), fim, instruct "
        "or prefix.", choices=("auto", "fim", "instruct", "prefix"))
    backend: str = _setting(
        "local", "Where the model runs: local (in a worker process), llama-server (llama.cpp's "
        "server) or openai (an OpenAI-compatible endpoint).",
        choices=("local", "llama-server", "openai"))
    endpoint: str = _setting("", "Base URL of the llama-server or OpenAI-compatible endpoint.")
    api_key_env: str = _setting(
        "OFFPILOT_API_KEY", "Name of the environment variable that holds the endpoint's API key.")
    remote_model: str = _setting("", "Model name sent to an OpenAI-compatible endpoint.")
    threads: int = _setting(0, "CPU threads for the local model; 0 means the physical cores.",
                            minimum=0, maximum=512)
    context_size: int = _setting(4096, "Context window (tokens) of the local model.",
                                 minimum=256, maximum=262144)
    gpu_layers: int = _setting(0, "Layers offloaded to the GPU (needs an accelerated build); "
                               "-1 means all.", minimum=-1, maximum=10000)
    shared_model: bool = _setting(
        True, "Local models run in one model service per user, shared by every Offpilot "
        "server (each editor window), instead of a worker per server; it starts with the first "
        "server that needs it. Off: each server runs its own worker (also the fallback when the "
        "service cannot start).")
    shared_model_idle_exit: float = _setting(
        600.0, "Seconds the shared model service stays up, with its models loaded, once no "
        "server is connected.", minimum=1.0, maximum=86400.0)
    completions_enabled: bool = _setting(True, "Show inline (ghost-text) completions.")
    disabled_languages: tuple[str, ...] = _setting(
        (), "Language ids for which inline completions are off.")
    max_tokens: int = _setting(64, "Most tokens generated for one inline completion.",
                               minimum=1, maximum=4096)
    max_lines: int = _setting(8, "Most lines in one multi-line inline completion.",
                              minimum=1, maximum=200)
    temperature: float = _setting(0.0, "Sampling temperature for completions (0 = greedy).",
                                  minimum=0.0, maximum=2.0)
    prefetch: bool = _setting(
        True, "After showing a suggestion, compute the next one as if it were accepted, while "
        "the model is idle.")
    warmup: bool = _setting(
        True, "When the cursor settles somewhere new, evaluate that place's prompt (its context "
        "and the code before it) while the model is idle, so the next suggestion there is fast.")
    debounce_ms: int = _setting(
        40, "Milliseconds a completion request waits for newer keystrokes before starting.",
        minimum=0, maximum=2000)
    time_limit: float = _setting(
        5.0, "Seconds after which a completion stops at the next line end.",
        minimum=0.1, maximum=120.0)
    context_budget: int = _setting(
        2048, "Characters of repository context added to a completion prompt.",
        minimum=0, maximum=100000)
    prefix_chars: int = _setting(2500, "Characters before the cursor sent to the model.",
                                 minimum=0, maximum=200000)
    suffix_chars: int = _setting(1500, "Characters after the cursor sent to the model.",
                                 minimum=0, maximum=200000)
    chat_max_tokens: int = _setting(768, "Most tokens generated for Explain and test scenarios.",
                                    minimum=16, maximum=32768)
    workspace_trusted: bool = _setting(
        True, "Whether the editor trusts the workspace. When false (in any layer), Offpilot "
        "runs none of the workspace's code: no generated test, no fix, no workspace .venv; "
        "Generate tests writes UNVERIFIED drafts only. VS Code sends it from Workspace Trust.",
        editor_setting=False)
    run_generated_tests: bool = _setting(
        True, "Run generated tests in a sandbox and keep only those that pass.")
    allow_unisolated_runs: bool = _setting(
        False, "Run generated tests even where the sandbox cannot isolate the filesystem "
        "(no bubblewrap or no user namespaces): they can then read and change your files.",
        scope="machine")
    python_path: str = _setting(
        "", "Python interpreter that runs generated tests; empty means the workspace's .venv "
        "or the server's own interpreter.")
    test_timeout: float = _setting(30.0, "Seconds one sandboxed test run may take.",
                                   minimum=1.0, maximum=3600.0)
    doc_diagnostics: bool = _setting(
        True, "Report docstrings and doc comments whose documented parameters differ from the "
        "signature.")
    doc_style: str = _setting(
        "auto", "Python docstring style for Generate documentation: auto (the style the file "
        "or project already uses), google, numpy or rest. Other languages have one style each.",
        choices=("auto", "google", "numpy", "rest"))
    doc_examples: bool = _setting(
        True, "Generate documentation adds a doctest Examples section to Python docstrings: "
        "calls of the function recorded in the test sandbox, kept only when doctest passes on "
        "them there. Never in an untrusted workspace.")
    index_enabled: bool = _setting(True, "Index the workspace for cross-file context.")
    max_file_size: int = _setting(1_000_000, "Files larger than this (bytes) are not indexed.",
                                  minimum=1000, maximum=100_000_000)
    exclude_files: tuple[str, ...] = _setting(
        (), "Gitignore-style patterns of files never indexed, read for context, completed in or "
        "sent to a model, added to the built-in list of files that look like secrets (.env*, "
        "keys and certificates, *credentials*, secrets.*, .netrc…; see SECURITY.md).")
    log_level: str = _setting("info", "Server log level.",
                              choices=("debug", "info", "warning", "error"))


SettingsListener = Callable[[Settings, Settings], None]  # called with (old, new)


class SettingsHolder:
    """The settings in force, one object shared by everything that reads them.

    Consumers keep the holder, never a copy of the settings: they read :attr:`current` on each
    use, and those that must act on a change (drop a model, re-index) :meth:`subscribe`.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._current = Settings() if settings is None else settings
        self._listeners: list[SettingsListener] = []

    @property
    def current(self) -> Settings:
        return self._current

    def subscribe(self, listener: SettingsListener) -> Callable[[], None]:
        """Call ``listener(old, new)`` after each change; returns a function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def set(self, settings: Settings) -> None:
        """Put ``settings`` in force and tell the listeners (when anything changed). A listener
        that fails is logged; the others are still told."""
        old, self._current = self._current, settings
        if old == settings:
            return
        for listener in list(self._listeners):
            try:
                listener(old, settings)
            except Exception:  # a consumer's bug must not keep the others on old settings
                log.exception("settings listener %r failed", listener)


def holder_of(settings: Settings | SettingsHolder) -> SettingsHolder:
    """``settings`` itself when it is a holder, else a holder of its own (a fixed value)."""
    return settings if isinstance(settings, SettingsHolder) else SettingsHolder(settings)


def wire_name(name: str) -> str:
    """snake_case field name -> camelCase setting name."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
WIRE_TO_FIELD = {wire_name(n): n for n in FIELDS}


def wire_values(settings: Settings) -> dict[str, Any]:
    """Every setting by its camelCase name, as JSON values (lists for tuples)."""
    return {wire_name(name): list(value) if isinstance(value, tuple) else value
            for name, value in ((n, getattr(settings, n)) for n in FIELDS)}


def _coerce(name: str, value: Any, *, from_env: bool) -> Any:
    """Convert one raw value to the field's type, or raise ValueError with a clear reason."""
    f = FIELDS[name]
    default = f.default
    meta = f.metadata
    if isinstance(default, bool):
        if isinstance(value, bool):
            out: Any = value
        elif from_env and isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
            out = True
        elif from_env and isinstance(value, str) and value.lower() in {"0", "false", "no", "off"}:
            out = False
        else:
            raise ValueError(f"expected true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool):
            raise ValueError(f"expected an integer, got {value!r}")
        if isinstance(value, int):
            out = value
        elif isinstance(value, float) and value.is_integer():
            out = int(value)
        elif from_env and isinstance(value, str):
            try:
                out = int(value.strip())
            except ValueError:
                raise ValueError(f"expected an integer, got {value!r}") from None
        else:
            raise ValueError(f"expected an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        if isinstance(value, int | float):
            out = float(value)
        elif from_env and isinstance(value, str):
            try:
                out = float(value.strip())
            except ValueError:
                raise ValueError(f"expected a number, got {value!r}") from None
        else:
            raise ValueError(f"expected a number, got {value!r}")
    elif isinstance(default, tuple):
        if from_env and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {value!r}")
        out = tuple(value)
    else:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
        out = value
    choices = meta.get("choices") or ()
    if choices and out not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}, got {out!r}")
    lo, hi = meta.get("minimum"), meta.get("maximum")
    if lo is not None and out < lo:
        raise ValueError(f"must be at least {lo}, got {out!r}")
    if hi is not None and out > hi:
        raise ValueError(f"must be at most {hi}, got {out!r}")
    return out


@dataclass(frozen=True)
class SettingsProblem:
    setting: str
    reason: str
    fallback: str = "the default"

    def __str__(self) -> str:
        return f"offpilot.{self.setting}: {self.reason}; using {self.fallback}"


def _apply(values: dict[str, Any], raw: Mapping[str, Any], *, from_env: bool,
           problems: list[SettingsProblem], sources: dict[str, str], source: str) -> None:
    for key, value in raw.items():
        name = WIRE_TO_FIELD.get(key) or (key if key in FIELDS else None)
        if name is None:
            if not from_env:
                problems.append(SettingsProblem(key, "unknown setting, ignored"))
            continue
        if value is None:
            continue
        try:
            values[name] = _coerce(name, value, from_env=from_env)
            sources[name] = source
        except ValueError as exc:
            values.pop(name, None)
            sources.pop(name, None)
            problems.append(SettingsProblem(wire_name(name), str(exc), *(
                ("false",) if name == "workspace_trusted" else ())))


def _unwrap(options: Any) -> Mapping[str, Any]:
    """Accept ``{"offpilot": {...}}`` or the flat mapping; anything else is empty."""
    if not isinstance(options, Mapping):
        return {}
    inner = options.get("offpilot")
    if isinstance(inner, Mapping):
        return inner
    return options


def _distrusts(values: Mapping[str, Any], problems: list[SettingsProblem]) -> bool:
    return values.get("workspace_trusted") is False or any(
        p.setting == "workspaceTrusted" for p in problems)


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The user config file: ``$OFFPILOT_CONFIG_DIR/config.toml`` when set, else
    ``platformdirs.user_config_dir("offpilot")/config.toml`` (``~/.config/offpilot`` on Linux,
    following ``XDG_CONFIG_HOME``)."""
    environ = os.environ if environ is None else environ
    override = environ.get(CONFIG_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser() / CONFIG_FILE
    import platformdirs

    return Path(platformdirs.user_config_dir("offpilot")) / CONFIG_FILE


def read_user_config(path: Path) -> tuple[dict[str, Any], list[SettingsProblem]]:
    """The config file as a settings layer (camelCase keys, top level or an ``[offpilot]``
    table); ``{}`` when it does not exist. A file that cannot be read or is not valid TOML is
    a problem, not a crash: the server must start, and the file is left as it is."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [SettingsProblem("(config file)", f"{path} was ignored: {exc}")]
    section = data.get("offpilot")
    return (dict(section) if isinstance(section, Mapping) else data), []


@dataclass(frozen=True)
class ResolvedSettings:
    settings: Settings
    problems: list[SettingsProblem]
    sources: dict[str, str]  # field name -> DEFAULT, CONFIG_FILE_SOURCE, ENVIRONMENT or EDITOR
    config_file: Path


def resolve_settings(
    *layers: Any, environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> ResolvedSettings:
    """Build settings from the user config file, the environment and then each editor layer
    (``initializationOptions``, then ``workspace/configuration``; later layers win), and say
    where each value came from. A bad value is reported and falls back to its default."""
    environ = os.environ if environ is None else environ
    config_file = user_config_path(environ) if config_file is None else config_file
    file_layer, problems = read_user_config(config_file)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    _apply(values, file_layer, from_env=False, problems=problems, sources=sources,
           source=CONFIG_FILE_SOURCE)
    env_raw = {name: environ[env_name(name)] for name in FIELDS if env_name(name) in environ}
    _apply(values, env_raw, from_env=True, problems=problems, sources=sources,
           source=ENVIRONMENT)
    distrusted = _distrusts(values, problems)
    for layer in layers:
        if layer is None:
            continue
        if not isinstance(layer, Mapping):
            problems.append(SettingsProblem("(options)", f"expected an object, got {layer!r}"))
            continue
        _apply(values, _unwrap(layer), from_env=False, problems=problems, sources=sources,
               source=EDITOR)
        distrusted = _distrusts(values, problems) or distrusted
    if distrusted:
        values["workspace_trusted"] = False
    return ResolvedSettings(Settings(**values), problems,
                            {name: sources.get(name, DEFAULT) for name in FIELDS}, config_file)


def load_settings(
    *layers: Any, environ: Mapping[str, str] | None = None, config_file: Path | None = None
) -> tuple[Settings, list[SettingsProblem]]:
    """The settings and the problems found (see :func:`resolve_settings`).

    ``workspaceTrusted`` is the exception to "later layers win": false in any layer wins, so
    a later layer (a workspace's own configuration, say) cannot grant trust, and a value that
    is not a boolean counts as false.
    """
    resolved = resolve_settings(*layers, environ=environ, config_file=config_file)
    return resolved.settings, resolved.problems


def describe_settings() -> list[dict[str, Any]]:
    """Name, default and description of every setting (README table, VS Code manifest)."""
    out = []
    for name, f in FIELDS.items():
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        out.append({"name": wire_name(name), "env": env_name(name), "default": default,
                    "description": f.metadata["description"],
                    "choices": list(f.metadata.get("choices") or ()),
                    "editorSetting": bool(f.metadata.get("editor_setting", True)),
                    "scope": f.metadata.get("scope") or None})
    return out


def settings_markdown() -> str:
    """The settings table of the README (kept in sync by a test)."""
    rows = ["| Setting | Environment | Default | Description |", "|---|---|---|---|"]
    for d in describe_settings():
        default = d["default"]
        shown = "`\"\"`" if default == "" else f"`{json.dumps(default)}`"
        desc = d["description"].replace("|", "\\|")
        rows.append(f"| `offpilot.{d['name']}` | `{d['env']}` | {shown} | {desc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_markdown())
