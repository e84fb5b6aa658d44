#!/usr/bin/env bash
# Create (or bring up to date) the project's virtual environment and install the gateway into it,
# with exactly the package versions of the committed lock file (uv.lock).
# Usage: scripts/setup-venv.sh [--test] [--latest]
#   --test    also the test tools (pytest, hypothesis, ruff, mypy, time-machine …), also locked
#   --latest  instead of the lock, the newest releases pyproject.toml allows, in .venv-latest
#             (for scripts/test --latest; the lock and .venv are not touched)
set -euo pipefail
cd "$(dirname "$0")/.."
test_tools=0 latest=0
for arg in "$@"; do
  case "$arg" in
    --test) test_tools=1 ;;
    --latest) latest=1 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
source scripts/uv.sh

if [[ $latest -eq 1 ]]; then
  venv=.venv-latest
  [[ -x $venv/bin/python ]] || "$UV" venv -q "$venv"
  extra=""; [[ $test_tools -eq 1 ]] && extra="[test]"
  "$UV" pip install -q -p "$venv/bin/python" --upgrade --resolution highest --compile-bytecode -e ".${extra}"
else
  venv=.venv
  extra=(); [[ $test_tools -eq 1 ]] && extra=(--extra test)
  # --locked: install exactly what uv.lock says; a pyproject.toml that no longer matches the
  # lock is refused (run scripts/lock) instead of silently re-resolved. --exact removes
  # anything in the venv that the lock does not list.
  if ! UV_PROJECT_ENVIRONMENT=$venv "$UV" sync -q --locked --exact --compile-bytecode "${extra[@]}"; then
    echo "setup-venv: cannot install uv.lock (does it match pyproject.toml? run scripts/lock)" \
         "— ติดตั้งตาม uv.lock ไม่ได้" >&2
    exit 1
  fi
fi
# Compiled bytecode up front: with PYTHONDONTWRITEBYTECODE set (as on these machines)
# every start would otherwise compile the gateway from source again.
"$venv/bin/python" -m compileall -q gateway store > /dev/null || true
echo "setup-venv: ready ($("$venv/bin/python" --version), $venv, $([[ $latest -eq 1 ]] && echo 'newest releases' || echo 'uv.lock'))"
