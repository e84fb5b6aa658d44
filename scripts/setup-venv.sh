#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv and install the gateway into it.
# Usage: scripts/setup-venv.sh [--test]     --test also installs the test tools (pytest, hypothesis…)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "setup-venv: Python 3.11 or newer is needed (ต้องใช้ Python 3.11 ขึ้นไป); found: $("$PY" --version 2>&1)" >&2
  exit 1
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  # Debian splits venv/ensurepip out of the interpreter package.
  echo "setup-venv: installing python3-venv"
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
fi

if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
extra=""
[[ "${1:-}" == "--test" ]] && extra="[test]"
# uv installs the same packages from PyPI as pip, about ten times faster.
if [[ ! -x .venv/bin/uv ]]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check uv
fi
# Compiled bytecode up front: with PYTHONDONTWRITEBYTECODE set (as on these machines)
# every start would otherwise compile SQLAlchemy, pyHanko … from source again (~0.7 s).
.venv/bin/uv pip install -q --compile-bytecode -p .venv/bin/python -e ".${extra}"
.venv/bin/python -m compileall -q gateway store > /dev/null || true
echo "setup-venv: ready ($(.venv/bin/python --version), .venv)"
