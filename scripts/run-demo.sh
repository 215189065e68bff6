#!/usr/bin/env bash
# `make run`: the allot server in dev mode (no auth, loopback only) with the demo cluster, in the foreground.
# Request lines are at debug in the demo config: ALLOT_LOG_LEVEL=debug make run (or --log-level debug) shows them.
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/allot serve --dev --config examples/server/demo.yaml --listen 127.0.0.1:7070 --data "${ALLOT_DATA:-/tmp/allot-demo}" \
    --log-level "${ALLOT_LOG_LEVEL:-info}" "$@"
