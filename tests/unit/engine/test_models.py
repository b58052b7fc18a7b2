"""The model catalogue, name resolution, the store listing, the user config file, hardware."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from offpilot.config import CONFIG_DIR_ENV, load_settings
from offpilot.engine import hardware, models
from offpilot.engine.backend import BackendState, ModelError


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(models.MODELS_DIR_ENV, str(tmp_path / "store"))
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path / "config"))
    return tmp_path


def test_catalogue_has_the_documented_profiles():
    for name in ("qwen3-4b-instruct-2507", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b",
                 "qwen2.5-coder-3b", "qwen2.5-coder-7b", "gemma3-270m"):
        p = models.PROFILES[name]
        assert p.size > 0 and p.quantization and p.license and p.context > 0
        assert set(p.roles) <= {"completion", "chat"} and p.roles
        assert p.prompt_mode in {"fim", "instruct", "prefix"}
        assert p.file.endswith(".gguf")
    assert models.PROFILES["qwen2.5-coder-1.5b"].prompt_mode == "fim"
    assert models.PROFILES["qwen3-4b-instruct-2507"].prompt_mode == "instruct"
    assert "chat" in models.PROFILES["qwen3-4b-instruct-2507"].roles


def test_empty_and_embedded_name_resolve_to_the_packaged_model(gemma_path: Path):
    assert models.resolve_model("") == gemma_path
    assert models.resolve_model("  gemma3-270m ") == gemma_path


def test_paths_resolve_to_themselves(tmp_path: Path):
    f = tmp_path / "mine.gguf"
    f.write_bytes(b"GGUF")
    assert models.resolve_model(str(f)) == f
    assert models.resolve_model("models/other.gguf") == Path("models/other.gguf")
    assert models.resolve_model("./a/b/c.gguf") == Path("./a/b/c.gguf")


def test_profile_not_downloaded_says_how_to_pull():
    with pytest.raises(ModelError, match=r"offpilot models pull qwen2\.5-coder-1\.5b"):
        models.resolve_model("qwen2.5-coder-1.5b")


def test_downloaded_profile_resolves_into_the_store(tmp_path: Path):
    prof = models.PROFILES["qwen2.5-coder-0.5b"]
    dst = tmp_path / "store" / prof.repo.replace("/", "--") / prof.file
    dst.parent.mkdir(parents=True)
    dst.write_bytes(b"GGUF" + b"\0" * 16)
    assert models.resolve_model("qwen2.5-coder-0.5b") == dst
    assert models.path("qwen2.5-coder-0.5b") == dst


def test_unknown_name_lists_known_profiles():
    with pytest.raises(ModelError) as err:
        models.resolve_model("qwen-coder-huge")
    assert "qwen2.5-coder-1.5b" in str(err.value) and "gemma3-270m" in str(err.value)


def test_hub_references():
    ref = models.parse_hub_ref("hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/q8.gguf")
    assert ref == models.HubFile("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", "q8.gguf")
    assert models.parse_hub_ref("o/r/sub/dir/m.gguf").file == "sub/dir/m.gguf"
    assert models.parse_hub_ref("o/r/../m.gguf") is None
    assert models.parse_hub_ref("only/two.gguf") is None
    assert models.parse_hub_ref("o/r/readme.md") is None
    with pytest.raises(ModelError, match="not downloaded yet"):
        models.resolve_model("o/r/m.gguf")


def test_list_models_shows_profiles_and_stray_store_files(tmp_path: Path):
    stray = tmp_path / "store" / "someone--Some-GGUF" / "some.gguf"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"GGUF1234")
    entries = {e.name: e for e in models.list_models()}
    assert set(models.PROFILES) <= set(entries)
    assert entries["gemma3-270m"].installed
    assert not entries["qwen2.5-coder-7b"].installed
    assert entries["qwen2.5-coder-7b"].size == models.PROFILES["qwen2.5-coder-7b"].size
    other = entries["someone/Some-GGUF/some.gguf"]
    assert other.installed and other.profile is None and other.size == 8
    assert models.remove("someone/Some-GGUF/some.gguf") == [stray]
    assert not stray.exists()


def test_remove_refuses_user_files_and_the_embedded_model(tmp_path: Path):
    f = tmp_path / "mine.gguf"
    f.write_bytes(b"GGUF")
    with pytest.raises(ModelError, match="does not delete"):
        models.remove(str(f))
    assert f.exists()
    with pytest.raises(ModelError, match="pip uninstall"):
        models.remove("gemma3-270m")


def test_use_writes_a_config_layer_that_settings_accept(tmp_path: Path):
    cfg = models.use("qwen2.5-coder-1.5b")
    models.use("qwen3-4b-instruct-2507", role="chat")
    assert cfg == tmp_path / "config" / "config.toml"
    layer = models.user_config_layer()
    assert layer == {"model": "qwen2.5-coder-1.5b", "chatModel": "qwen3-4b-instruct-2507"}
    settings, problems = load_settings(layer, environ={})
    assert problems == []
    assert settings.model == "qwen2.5-coder-1.5b"
    assert settings.chat_model == "qwen3-4b-instruct-2507"
    # Choosing the embedded model writes the empty default.
    models.use("gemma3-270m")
    assert models.user_config_layer()["model"] == ""


def test_use_keeps_other_settings_and_quotes_paths(tmp_path: Path):
    cfg = tmp_path / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('threads = 3\nendpoint = "http://gpu-box:8080"\n')
    weird = tmp_path / 'dir with "quotes" and \\ backslash' / "m.gguf"
    weird.parent.mkdir()
    weird.write_bytes(b"GGUF" + b"\0" * 8)
    models.use(str(weird))
    layer = models.user_config_layer()
    assert layer == {"threads": 3, "endpoint": "http://gpu-box:8080",
                     "model": str(weird.resolve())}


def test_use_refuses_bad_input_and_loses_nothing(tmp_path: Path):
    with pytest.raises(ModelError, match="unknown role"):
        models.use("qwen2.5-coder-1.5b", role="poetry")
    with pytest.raises(ModelError, match="unknown model"):
        models.use("no-such-profile")
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF"):
        models.use(str(not_gguf))
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        models.use(str(empty))
    assert not (tmp_path / "config" / "config.toml").exists()

    cfg = tmp_path / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("model = [unterminated\n")
    assert models.user_config_layer() == {}
    with pytest.raises(ModelError, match="not valid TOML"):
        models.use("qwen2.5-coder-1.5b")
    assert cfg.read_text() == "model = [unterminated\n"


def test_config_layer_accepts_an_offpilot_table(tmp_path: Path):
    cfg = tmp_path / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[offpilot]\nmodel = "qwen2.5-coder-0.5b"\n')
    assert models.user_config_layer() == {"model": "qwen2.5-coder-0.5b"}


def test_profile_for_matches_names_and_files(tmp_path: Path):
    assert models.profile_for("qwen2.5-coder-3b").name == "qwen2.5-coder-3b"
    assert models.profile_for(str(tmp_path / "qwen2.5-coder-3b-q8_0.gguf")).name == \
        "qwen2.5-coder-3b"
    assert models.profile_for("nothing-known") is None


def test_hardware_probe_without_loading_llama_cpp_here():
    loaded_before = "llama_cpp" in sys.modules
    assert hardware.physical_cores() >= 1
    assert hardware.default_threads(0) == hardware.physical_cores()
    assert hardware.default_threads(3) == 3
    gpu = hardware.gpu_support()
    assert isinstance(gpu.offload, bool) and gpu.detail
    assert ("llama_cpp" in sys.modules) == loaded_before
    summary = hardware.hardware_summary()
    assert summary["physical_cores"] == hardware.physical_cores()
    assert summary["total_memory"] is None or summary["total_memory"] > 0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "offpilot", "models", *args],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


def test_cli_list_use_path_remove(tmp_path: Path):
    out = run_cli("list")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "INSTALLED", "SIZE"]
    row = next(line for line in lines if line.startswith("qwen2.5-coder-1.5b "))
    assert row.split()[1:4] == ["no", "1.65", "GB"]

    out = run_cli("use", "qwen3-4b-instruct-2507", "--role", "chat")
    assert out.returncode == 0 and "offpilot models pull qwen3-4b-instruct-2507" in out.stderr
    assert models.user_config_layer() == {"chatModel": "qwen3-4b-instruct-2507"}

    out = run_cli("path", "qwen2.5-coder-0.5b")
    assert out.returncode == 1
    assert out.stdout.strip().endswith("qwen2.5-coder-0.5b-q8_0.gguf")

    out = run_cli("remove", "no-such-model")
    assert out.returncode == 1 and "Known profiles" in out.stderr


@pytest.mark.model
async def test_manager_unloads_the_idle_model_when_both_do_not_fit(
        gemma_path: Path, chat_model_path: Path, monkeypatch: pytest.MonkeyPatch):
    from offpilot.engine import manager as manager_module
    from offpilot.engine.manager import CHAT, COMPLETION, ModelManager

    settings, problems = load_settings({"model": str(gemma_path),
                                        "chatModel": str(chat_model_path),
                                        "threads": 1, "contextSize": 512}, environ={})
    assert problems == []
    manager = ModelManager(settings)
    try:
        completion = await manager.backend(COMPLETION)
        assert manager.status()[COMPLETION]["loaded"]
        assert manager.status()[COMPLETION]["path"] == str(gemma_path)
        # Pretend the machine has 100 MB free: the 253 MB chat model does not fit beside it.
        monkeypatch.setattr(manager_module, "available_memory", lambda: 100 * 2**20)
        chat = await manager.backend(CHAT)
        status = manager.status()
        assert status[CHAT]["loaded"] and not status[COMPLETION]["loaded"]
        assert "unloaded to free memory" in status[COMPLETION]["note"]
        assert completion.state is BackendState.NO_MODEL and completion.pid is None
        # Asking for completions again brings that model back and unloads the idle chat model.
        again = await manager.backend(COMPLETION)
        assert again is not completion and manager.status()[COMPLETION]["loaded"]
        assert chat.state is BackendState.NO_MODEL
        # With enough memory both stay loaded.
        monkeypatch.setattr(manager_module, "available_memory", lambda: 64 * 2**30)
        await manager.backend(CHAT)
        assert all(manager.status()[r]["loaded"] for r in (COMPLETION, CHAT))
    finally:
        await manager.close()
