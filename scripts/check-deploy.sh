#!/usr/bin/env bash
# Check the deployment example on this machine: deploy/nginx/socialdesk.conf runs in front of
# `socialdesk serve` with a self-signed certificate, and Slack and Teams requests go through it
# over HTTPS (scripts/check_deploy.py says what is checked). Installs nginx with apt-get if it
# is absent (as root). Leaves nothing running and nothing behind; exits non-zero on a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx" >&2
  # Debian starts the nginx service it installs; this check runs its own, on other ports.
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nginx >/dev/null
  if [ -f /run/nginx.pid ]; then
    /usr/sbin/nginx -s quit || true
  fi
fi
PATH="$PATH:/usr/sbin" PYTHONPATH=. exec .venv/bin/python scripts/check_deploy.py
