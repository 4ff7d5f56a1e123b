#!/usr/bin/env bash
# Refresh requirements.lock: every runtime and development dependency of pyproject.toml, pinned
# with the hashes of PyPI's files, for CPython 3.11 on Linux. Run it after changing a dependency
# in pyproject.toml (or to take newer releases), run the tests, and commit both files:
#
#     bash scripts/lock.sh
#
# The lock is resolved by uv (a pinned release, in a throwaway venv) from PyPI itself, whatever
# pip is configured with on this machine. setuptools is locked too: scripts/venv.sh installs
# socialdesk itself without build isolation, so that nothing unhashed is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.8
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
echo "setuptools>=68" >"$tools/build.in"
"$tools/venv/bin/uv" pip compile pyproject.toml "$tools/build.in" \
  --extra dev \
  --generate-hashes \
  --python-version 3.11 \
  --python-platform linux \
  --default-index https://pypi.org/simple \
  --no-config \
  --no-annotate \
  --custom-compile-command "bash scripts/lock.sh" \
  --quiet \
  --output-file requirements.lock
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) packages)"
