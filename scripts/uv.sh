# Sourced by the setup scripts: makes $UV, a pinned uv in its own small venv (.uv/), so that the
# tool that installs the lock is itself a fixed version. uv installs from PyPI like pip, ~10× faster.
UV_VERSION=0.13.9
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "setup: Python 3.11 or newer is needed (ต้องใช้ Python 3.11 ขึ้นไป); found: $("$PY" --version 2>&1)" >&2
  exit 1
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  # Debian splits venv/ensurepip out of the interpreter package.
  echo "setup: installing python3-venv"
  if [[ $(id -u) -eq 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
fi
if [[ "$(.uv/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
  rm -rf .uv
  "$PY" -m venv .uv
  .uv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
UV=.uv/bin/uv
export UV_PYTHON="$PY" UV_PYTHON_DOWNLOADS=never
