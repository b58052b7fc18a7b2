#!/usr/bin/env bash
# Neovim end-to-end test: a headless Neovim with tests/editors/nvim_init.lua opens
# shop/pricing.py in a copy of examples/demo-project; neovim_test.lua checks attach,
# inline completion, offpilot/stats, and, when the server offers them, Explain, the documentation
# quick fix (applied), Explain / Fix this problem on a diagnostic and Fix this problem run on a
# syntax error (the verified edit applied to the buffer).
# Installs Debian's neovim when missing and running as root; skips (exit 0) otherwise.
# --scripted: run against editor-client/test/e2e/fake_server.py (which always offers Explain).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$REPO/tests/editors"
if ! command -v nvim >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim >/dev/null; }
  else
    echo "[neovim] SKIPPED: nvim is not installed (apt-get install neovim)" >&2
    exit 0
  fi
fi
WORK="$(mktemp -d /tmp/offpilot-nvim.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
cp -r "$REPO/examples/demo-project" "$WORK/project"
if [ "${1:-}" = --scripted ]; then
  printf '#!/bin/sh\nexec "%s" "%s"\n' "$REPO/.venv/bin/python" "$REPO/editor-client/test/e2e/fake_server.py" > "$WORK/offpilot"
  chmod +x "$WORK/offpilot"
  export OFFPILOT_SERVER="$WORK/offpilot"
else
  export OFFPILOT_SERVER="${OFFPILOT_SERVER:-$REPO/.venv/bin/offpilot}"
fi
export OFFPILOT_NVIM_FILE="$WORK/project/shop/pricing.py"
export XDG_CONFIG_HOME="$WORK/config" XDG_DATA_HOME="$WORK/data" XDG_STATE_HOME="$WORK/state" XDG_CACHE_HOME="$WORK/cache"
start=$(date +%s)
timeout 400 nvim --headless -n -i NONE -u "$HERE/nvim_init.lua" -c "luafile $HERE/neovim_test.lua"
echo "[neovim] passed in $(( $(date +%s) - start ))s ($(nvim --version | head -1))" >&2
