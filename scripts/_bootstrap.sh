# shellcheck shell=bash
# Sourced by scripts/test, scripts/demo, scripts/docs, scripts/check_package and scripts/matrix:
# makes `uv` available and the venv current.
# Needs only python3 (>= 3.10) and access to PyPI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v uv >/dev/null 2>&1; then
  tools=.cache/tools
  if [ ! -x "$tools/bin/uv" ]; then
    echo "==> installing uv into $tools (uv is not on PATH)"
    python3 -m venv "$tools"
    "$tools/bin/python" -m pip install --quiet --disable-pip-version-check uv
  fi
  export PATH="$PWD/$tools/bin:$PATH"
fi

echo "==> uv sync"
uv sync --locked --quiet
