#!/usr/bin/env bash
# Start socialdesk on this machine: SQLite in ./socialdesk.db, no Slack or Teams credentials
# needed. Any environment setting (SLACK_BOT_TOKEN, DATABASE_URL, ...) set beforehand is used.
# Without socialdesk.yaml here (or SOCIALDESK_CONFIG), and without Slack or Teams credentials,
# socialdesk itself falls back to the example school (socialdesk.example.yaml) and says so; every
# other socialdesk command finds its configuration the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
exec .venv/bin/socialdesk serve "$@"
