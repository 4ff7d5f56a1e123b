#!/usr/bin/env bash
# Start socialdesk on this machine: SQLite in ./socialdesk.db, no Slack or Teams credentials
# needed. Any environment setting (SLACK_BOT_TOKEN, DATABASE_URL, ...) set beforehand is used.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
if [ -z "${SOCIALDESK_CONFIG:-}" ] && [ ! -f socialdesk.yaml ]; then
  if [ -n "${SOCIALDESK_POLICY:-}" ]; then
    echo "socialdesk.yaml not found: using socialdesk.example.yaml, the example school's" \
      "configuration, with the policy SOCIALDESK_POLICY names (copy it to socialdesk.yaml" \
      "to make your own)" >&2
  else
    echo "socialdesk.yaml not found: using socialdesk.example.yaml, the example school and" \
      "its policy (copy it to socialdesk.yaml to make your own)" >&2
  fi
  export SOCIALDESK_CONFIG=socialdesk.example.yaml
fi
exec .venv/bin/socialdesk serve "$@"
