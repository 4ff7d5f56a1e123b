#!/usr/bin/env bash
# Run the test suite. SQLite always; PostgreSQL too when TEST_DATABASE_URL is set
# (e.g. postgresql://postgres@127.0.0.1:5432/postgres). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
exec .venv/bin/pytest "$@"
