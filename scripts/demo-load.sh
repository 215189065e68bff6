#!/usr/bin/env bash
# A light load for the demo cluster (scripts/run-demo.sh): six allocations with durations at start, then one
# every 15-25 s (1-8 cores, 2-16 GiB, 2-10 minutes; now and then a large one that has to queue), each
# through `allot alloc`, so the dashboard's history, queue and events have something to show. It runs until
# it is killed. Usage: scripts/demo-load.sh [URL] (default http://127.0.0.1:7070)
set -u
cd "$(dirname "$0")/.."
url=${1:-http://127.0.0.1:7070}
alloc() { build/allot alloc --server "$url" "$@" >/dev/null 2>&1 || true; }
alloc --tenant org/research --workflow training --cpu 8 --memory 32Gi --duration 20m
alloc --tenant org/research --workflow eval --cpu 4 --memory 16Gi --gpu 1 --duration 12m
alloc --tenant org/agents --workflow support-bot --cpu 2 --memory 4Gi --duration 8m --priority high
alloc --tenant org/agents --workflow summarizer --cpu 4 --memory 8Gi --duration 15m
alloc --tenant org/batch --workflow nightly-etl --cpu 6 --memory 12Gi --duration 25m --priority low
alloc --tenant org/batch --workflow reindex --cpu 12 --memory 24Gi --duration 10m --priority low
tenants=(org/research org/agents org/batch)
workflows=(training eval support-bot summarizer nightly-etl reindex)
i=0
while true; do
  sleep $((15 + RANDOM % 11))
  i=$((i + 1))
  t=${tenants[RANDOM % 3]}
  w=${workflows[RANDOM % 6]}
  if [ $((i % 7)) -eq 0 ]; then
    alloc --tenant "$t" --workflow "$w" --cpu 28 --memory 64Gi --duration 5m
  else
    alloc --tenant "$t" --workflow "$w" --cpu $((1 + RANDOM % 8)) --memory $((2 + RANDOM % 15))Gi --duration $((2 + RANDOM % 9))m
  fi
done
