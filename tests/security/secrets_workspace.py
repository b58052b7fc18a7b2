"""A workspace whose secrets must never reach a prompt, the index or a backend.

Every secret holds :data:`CANARY`, a string found nowhere else. The workspace has:

* ``secret_keys.py``: a symlink to a file *outside* the workspace (``API_KEY = "<canary>"``);
* ``.env`` and ``id_rsa``: classic secret files at the root;
* ``deploy/secrets.py`` and ``config/aws_credentials.py``: source files named like secrets;
* ``private_settings.py``: excluded only by the user's pattern :data:`USER_PATTERN`;
* ``util.py``: an ordinary file with :data:`CONTROL`, which *must* reach the prompt (so a test
  that finds no canary has shown that context does flow);
* ``app.py``: uses a function from each of them.
"""

from __future__ import annotations

from pathlib import Path

CANARY = "sk-canary-5f0c2e9d4b7a41f3"
CONTROL = "control-marker-8e21"
USER_PATTERN = "private_*.py"


def secret_module(name: str) -> str:
    return (f'API_KEY = "{CANARY}"\n\n\n'
            f"def {name}():\n"
            f'    """Returns the key {CANARY}."""\n'
            f'    return "{CANARY}"\n')


APP = ("from config.aws_credentials import aws_key\n"
       "from deploy.secrets import vault_password\n"
       "from private_settings import private_value\n"
       "from secret_keys import fetch_token\n"
       "from util import control_helper\n\n\n"
       "def run():\n"
       "    token = fetch_token()\n"
       "    password = vault_password()\n"
       "    value = private_value()\n"
       "    key = aws_key()\n"
       "    ok = control_helper()\n"
       "    return ")
CURSOR_LINE = APP.count("\n")  # 0-based line of the cursor (end of APP)
CURSOR_CHARACTER = len(APP) - APP.rfind("\n") - 1


def make_workspace(base: Path) -> Path:
    """``base/ws`` (the workspace) and ``base/elsewhere`` (outside it); returns the workspace."""
    outside = base / "elsewhere"
    outside.mkdir(parents=True)
    (outside / "secret_keys.py").write_text(secret_module("fetch_token"), encoding="utf-8")
    root = base / "ws"
    root.mkdir()
    (root / ".git").mkdir()  # a project marker, as in a real checkout
    (root / "secret_keys.py").symlink_to(outside / "secret_keys.py")
    (root / ".env").write_text(f"API_KEY={CANARY}\nDEBUG=1\n", encoding="utf-8")
    (root / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n"
                                 f"{CANARY}\n-----END OPENSSH PRIVATE KEY-----\n",
                                 encoding="utf-8")
    (root / "deploy").mkdir()
    (root / "deploy" / "secrets.py").write_text(secret_module("vault_password"),
                                                encoding="utf-8")
    (root / "config").mkdir()
    (root / "config" / "aws_credentials.py").write_text(secret_module("aws_key"),
                                                       encoding="utf-8")
    (root / "private_settings.py").write_text(secret_module("private_value"), encoding="utf-8")
    (root / "util.py").write_text(
        "def control_helper():\n"
        f'    """Returns the marker {CONTROL}."""\n'
        f'    return "{CONTROL}"\n', encoding="utf-8")
    (root / "app.py").write_text(APP, encoding="utf-8")
    return root


def database_bytes(cache: Path) -> bytes:
    """Every byte of every index database (with its -wal and -shm files) under ``cache``."""
    files = sorted(p for p in (cache / "index").glob("*.sqlite*") if p.is_file())
    assert files, f"no index database under {cache}"
    return b"".join(p.read_bytes() for p in files)
