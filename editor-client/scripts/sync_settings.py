"""Writes the server's settings into package.json's contributes.configuration.

The server's `offpilot.config.Settings` is the one source of names, defaults, descriptions,
choices and ranges; client-only settings (offpilot.server.*, offpilot.trace.server,
offpilot.triggerMode) are kept. Settings the extension sets itself (``editor_setting=False``:
workspaceTrusted) are left out.
Run from editor-client/: `npm run sync-settings` (test/manifest.test.ts checks the result).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE.parent / "server"))

from offpilot.config import FIELDS, wire_name  # noqa: E402

CLIENT_ONLY = {"offpilot.triggerMode"}  # read by the extension alone


def server_properties() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name, f in FIELDS.items():
        if not f.metadata.get("editor_setting", True):
            continue
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        if isinstance(default, bool):
            kind = "boolean"
        elif isinstance(default, int):
            kind = "integer"
        elif isinstance(default, float):
            kind = "number"
        elif isinstance(default, list):
            kind = "array"
        else:
            kind = "string"
        prop: dict = {"type": kind, "default": default}
        if f.metadata.get("scope"):
            prop["scope"] = f.metadata["scope"]
        prop["description"] = f.metadata["description"]
        if kind == "array":
            prop["items"] = {"type": "string"}
        if f.metadata.get("choices"):
            prop["enum"] = list(f.metadata["choices"])
        if f.metadata.get("minimum") is not None:
            prop["minimum"] = f.metadata["minimum"]
        if f.metadata.get("maximum") is not None:
            prop["maximum"] = f.metadata["maximum"]
        out[f"offpilot.{wire_name(name)}"] = prop
    return out


def main() -> None:
    path = HERE / "package.json"
    manifest = json.loads(path.read_text())
    config = manifest["contributes"]["configuration"]
    old = config["properties"]
    client_only = {k: v for k, v in old.items()
                   if k.startswith(("offpilot.server.", "offpilot.trace.")) or k in CLIENT_ONLY}
    config["properties"] = {**client_only, **server_properties()}
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
