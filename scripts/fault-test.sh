#!/usr/bin/env bash
# The long fault test of replicated `allot serve`: 3 etcd members and 3 replicas on loopback, concurrent
# clients through the Python client's fail-over list, 24 faults (kill -9 the leader, kill -9 a standby,
# SIGSTOP the leader or a standby past the lease TTL), then the history checker (tests/fault/).
#
# Usage: scripts/fault-test.sh [run.py options]     e.g. --faults 40 --seed 7 --out /tmp/fault
# Needs build/allot (make build) and etcd (scripts/install-deps.sh test). Bounded in time: no new fault
# after --max-seconds (default here 900), and every wait in the run has its own limit.
set -euo pipefail
cd "$(dirname "$0")/.."
export ALLOT_BINARY=${ALLOT_BINARY:-$PWD/build/allot}
export PYTHONPATH=$PWD/python${PYTHONPATH:+:$PYTHONPATH}
exec timeout 1800 python3 tests/fault/run.py --faults 24 --max-seconds 900 "$@"
