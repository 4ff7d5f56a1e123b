# Sourced by the other scripts: make sure .venv exists and holds this checkout's dependencies,
# exactly as requirements.lock pins them (each file checked against its hash), then socialdesk
# itself. Reinstalls only when the lock or pyproject.toml changed since the last install, so a
# second run is instant. The lock is refreshed with scripts/lock.sh.
venv_python=".venv/bin/python"
stamp=".venv/.socialdesk-installed"
if [ ! -x "$venv_python" ]; then
  echo "creating .venv" >&2
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing socialdesk's locked dependencies and development tools into .venv" >&2
  "$venv_python" -m pip install --quiet --disable-pip-version-check \
    --require-hashes -r requirements.lock
  # Without build isolation the build uses the locked setuptools, not an unhashed download.
  "$venv_python" -m pip install --quiet --disable-pip-version-check \
    --no-deps --no-build-isolation -e .
  touch "$stamp"
fi
