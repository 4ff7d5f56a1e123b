# Sourced by the other scripts: make sure .venv exists and holds this checkout's dependencies.
# Reinstalls only when pyproject.toml changed since the last install, so a second run is instant.
venv_python=".venv/bin/python"
stamp=".venv/.socialdesk-installed"
if [ ! -x "$venv_python" ]; then
  echo "creating .venv" >&2
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "installing socialdesk and its development tools into .venv" >&2
  "$venv_python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
  touch "$stamp"
fi
