#!/usr/bin/env bash
# bench-ofrep.sh: load-test the OFREP handler against the bare net/http
# ceiling. The server is pinned to core 0 and the load generator
# (/work/shared/tools/ofrep-load) to core 1 so they do not compete.
#
#   scripts/bench-ofrep.sh [duration] [concurrency]
#
# Prints one block of ofrep-load output per (mode, endpoint).
set -euo pipefail

DUR=${1:-8s}
CONC=${2:-32}
ADDR=127.0.0.1:18080
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD_DIR=${OFREP_LOAD_DIR:-/work/shared/tools/ofrep-load}
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT

(cd "$ROOT" && go build -o "$BIN/ofrepbench" ./internal/ofrep/ofrepbench)
(cd "$LOAD_DIR" && go build -o "$BIN/ofrep-load" .)

echo "machine: nproc=$(nproc) $(lscpu | grep 'Model name' | sed 's/  */ /g')"
for mode in ceiling flagops; do
  taskset -c 0 "$BIN/ofrepbench" -mode "$mode" -addr "$ADDR" 2>/dev/null &
  pid=$!
  for _ in $(seq 50); do
    curl -s -o /dev/null "http://$ADDR/" && break
    sleep 0.1
  done
  for ep in single bulk; do
    args=(-url "http://$ADDR" -c "$CONC" -d "$DUR" -warmup 2s -H "X-API-Key: bench-key")
    if [ "$ep" = bulk ]; then
      args+=(-bulk)
    else
      args+=(-flag tier-replicas -expect 3)
    fi
    echo "== $mode $ep"
    taskset -c 1 "$BIN/ofrep-load" "${args[@]}"
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
