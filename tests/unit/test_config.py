import dataclasses

import pytest
from offpilot.config import (
    Settings,
    SettingsHolder,
    describe_settings,
    holder_of,
    load_settings,
    wire_name,
)


def test_defaults_without_layers():
    settings, problems = load_settings(environ={})
    assert settings == Settings()
    assert problems == []


def test_precedence_env_then_init_options_then_workspace():
    env = {"OFFPILOT_MAX_TOKENS": "12", "OFFPILOT_TEMPERATURE": "0.5"}
    init = {"maxTokens": 20, "maxLines": 3}
    workspace = {"offpilot": {"maxLines": 5}}
    s, problems = load_settings(init, workspace, environ=env)
    assert problems == []
    assert s.temperature == 0.5  # from the environment
    assert s.max_tokens == 20  # initializationOptions beat the environment
    assert s.max_lines == 5  # workspace/configuration beats initializationOptions


def test_invalid_values_fall_back_to_defaults_with_reasons():
    s, problems = load_settings({"maxTokens": "many", "promptMode": "guess", "threads": -3,
                                 "completionsEnabled": "yes", "nosuch": 1}, environ={})
    assert s.max_tokens == Settings().max_tokens
    assert s.prompt_mode == "auto"
    assert s.threads == 0
    assert s.completions_enabled is True
    reasons = {p.setting: p.reason for p in problems}
    assert set(reasons) == {"maxTokens", "promptMode", "threads", "completionsEnabled", "nosuch"}
    assert "one of" in reasons["promptMode"]


def test_bad_environment_value_is_reported():
    s, problems = load_settings(environ={"OFFPILOT_CONTEXT_SIZE": "huge"})
    assert s.context_size == Settings().context_size
    assert [p.setting for p in problems] == ["contextSize"]


def test_non_object_layer_is_a_problem_not_a_crash():
    s, problems = load_settings(["not", "an", "object"], environ={})
    assert s == Settings()
    assert problems and "expected an object" in problems[0].reason


def test_lists_and_bools_from_env():
    s, _ = load_settings(environ={"OFFPILOT_DISABLED_LANGUAGES": "markdown, plaintext",
                                  "OFFPILOT_COMPLETIONS_ENABLED": "off"})
    assert s.disabled_languages == ("markdown", "plaintext")
    assert s.completions_enabled is False


def test_describe_settings_uses_wire_names():
    names = {d["name"] for d in describe_settings()}
    assert "chatModel" in names and "completionsEnabled" in names
    assert wire_name("run_generated_tests") == "runGeneratedTests"


def test_readme_settings_table_is_current():
    from pathlib import Path

    from offpilot.config import settings_markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert settings_markdown() in readme, "regenerate with `python -m offpilot.config`"


def test_workspace_untrusted_in_any_layer_wins():
    """A later layer (say a workspace's own configuration) cannot grant trust back."""
    s, problems = load_settings({"workspaceTrusted": False},
                                {"offpilot": {"workspaceTrusted": True}}, environ={})
    assert problems == [] and s.workspace_trusted is False
    s, _ = load_settings({"workspaceTrusted": True},
                         environ={"OFFPILOT_WORKSPACE_TRUSTED": "0"})
    assert s.workspace_trusted is False
    s, _ = load_settings({}, {"offpilot": {"workspaceTrusted": False}}, environ={})
    assert s.workspace_trusted is False
    assert load_settings({"workspaceTrusted": True}, environ={})[0].workspace_trusted is True
    assert load_settings(environ={})[0].workspace_trusted is True  # a user's own terminal


def test_workspace_trust_that_is_not_a_boolean_counts_as_untrusted():
    s, problems = load_settings({"workspaceTrusted": "yes"}, environ={})
    assert s.workspace_trusted is False
    assert [str(p) for p in problems] == [
        "offpilot.workspaceTrusted: expected true or false, got 'yes'; using false"]
    s, _ = load_settings(environ={"OFFPILOT_WORKSPACE_TRUSTED": "maybe"})
    assert s.workspace_trusted is False


def test_workspace_trusted_is_set_by_the_editor_not_a_vs_code_setting():
    by_name = {d["name"]: d for d in describe_settings()}
    assert by_name["workspaceTrusted"]["editorSetting"] is False
    assert by_name["model"]["editorSetting"] is True


# ------------------------------------------------------------------------ the user config file
def test_config_file_sits_between_defaults_and_the_environment(tmp_path):
    from offpilot.config import CONFIG_FILE_SOURCE, DEFAULT, EDITOR, ENVIRONMENT, resolve_settings

    cfg = tmp_path / "config.toml"
    cfg.write_text('model = "from-file.gguf"\nthreads = 3\nmaxTokens = 10\nmaxLines = 2\n')
    env = {"OFFPILOT_THREADS": "5", "OFFPILOT_MAX_TOKENS": "11", "OFFPILOT_MAX_LINES": "4"}
    r = resolve_settings({"maxTokens": 12, "maxLines": 6}, {"offpilot": {"maxLines": 7}},
                         environ=env, config_file=cfg)
    assert r.problems == []
    s = r.settings
    assert (s.model, s.threads, s.max_tokens, s.max_lines) == ("from-file.gguf", 5, 12, 7)
    assert r.sources["model"] == CONFIG_FILE_SOURCE
    assert r.sources["threads"] == ENVIRONMENT
    assert r.sources["max_tokens"] == EDITOR and r.sources["max_lines"] == EDITOR
    assert r.sources["temperature"] == DEFAULT


def test_config_file_location_and_offpilot_table(tmp_path, monkeypatch):
    from offpilot.config import CONFIG_DIR_ENV, user_config_path

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_config_path({}) == tmp_path / "xdg" / "offpilot" / "config.toml"
    assert user_config_path({CONFIG_DIR_ENV: str(tmp_path / "mine")}) == \
        tmp_path / "mine" / "config.toml"
    cfg = tmp_path / "xdg" / "offpilot" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[offpilot]\nchatModel = "qwen3-4b-instruct-2507"\n')
    s, problems = load_settings(environ={})
    assert problems == [] and s.chat_model == "qwen3-4b-instruct-2507"


def test_a_broken_config_file_is_reported_and_left_alone(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("model = [unterminated\n")
    s, problems = load_settings(environ={"OFFPILOT_THREADS": "2"}, config_file=cfg)
    assert s.threads == 2 and s.model == ""
    assert [p.setting for p in problems] == ["(config file)"]
    assert str(cfg) in problems[0].reason
    assert cfg.read_text() == "model = [unterminated\n"

    cfg.write_text('threads = "many"\nnosuch = 1\n')
    s, problems = load_settings(environ={}, config_file=cfg)
    assert s.threads == 0
    assert {p.setting for p in problems} == {"threads", "nosuch"}


def test_config_command_shows_values_and_their_sources(tmp_path):
    import json
    import os
    import subprocess
    import sys

    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    (cfg_dir / "config.toml").write_text('model = "/models/a.gguf"\nthreads = 3\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFPILOT_")}
    env.update({"OFFPILOT_CONFIG_DIR": str(cfg_dir), "OFFPILOT_THREADS": "6"})
    cmd = [sys.executable, "-m", "offpilot", "config"]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=60,
                         check=True)
    data = json.loads(out.stdout)
    assert data["configFile"] == str(cfg_dir / "config.toml")
    assert data["settings"]["model"] == {"value": "/models/a.gguf", "source": "config file"}
    assert data["settings"]["threads"] == {"value": 6,
                                           "source": "environment (OFFPILOT_THREADS)"}
    assert data["settings"]["maxTokens"]["source"] == "default"
    table = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60,
                           check=True).stdout
    row = next(line for line in table.splitlines() if line.startswith("model "))
    assert row.split() == ["model", '"/models/a.gguf"', "config", "file"]


def test_settings_holder_tells_every_listener_of_a_change_even_when_one_fails(
        caplog: pytest.LogCaptureFixture) -> None:
    holder = SettingsHolder()
    seen: list[tuple[int, int]] = []

    def broken(old: Settings, new: Settings) -> None:
        raise RuntimeError("listener bug")

    holder.subscribe(broken)
    unsubscribe = holder.subscribe(lambda old, new: seen.append((old.max_tokens, new.max_tokens)))
    holder.set(dataclasses.replace(holder.current, max_tokens=9))
    holder.set(dataclasses.replace(holder.current, max_tokens=9))  # no change: nobody is told
    assert holder.current.max_tokens == 9
    assert seen == [(64, 9)]
    assert any("listener" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    unsubscribe()
    holder.set(Settings())
    assert seen == [(64, 9)] and holder.current == Settings()
    assert holder_of(holder) is holder and holder_of(Settings()).current == Settings()
