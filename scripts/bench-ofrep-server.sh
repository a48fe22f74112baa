#!/usr/bin/env bash
# bench-ofrep-server.sh: load-test OFREP on the real server (flagops serve,
# SQLite, auth on) beside the bare net/http ceiling, in the same run. The
# server is pinned to core 0 and the load generator
# (../shared/tools/ofrep-load) to core 1.
#
#   scripts/bench-ofrep-server.sh [duration] [concurrency] [key-kind]
#
# key-kind is "static" (a --ofrep-key development key) or "api" (an API key
# with the evaluator role, looked up like any production key; the default).
set -euo pipefail

DUR=${1:-8s}
CONC=${2:-32}
KEYKIND=${3:-api}
ADDR=127.0.0.1:18090
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOAD_DIR=${OFREP_LOAD_DIR:-$ROOT/../shared/tools/ofrep-load}
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

(cd "$ROOT" && go build -o "$WORK/flagops" ./cmd/flagops && go build -o "$WORK/ofrepbench" ./internal/ofrep/ofrepbench)
(cd "$LOAD_DIR" && go build -o "$WORK/ofrep-load" .)
echo "machine: nproc=$(nproc) $(lscpu | grep 'Model name' | sed 's/  */ /g'); key: $KEYKIND"

wait_up() { for _ in $(seq 100); do curl -s -o /dev/null "http://$ADDR/healthz" && return 0; sleep 0.1; done; return 1; }
load() { # name, extra args…
  local name=$1; shift
  echo "== $name"
  taskset -c 1 "$WORK/ofrep-load" -url "http://$ADDR" -c "$CONC" -d "$DUR" -warmup 2s "$@"
}

# The ceiling: a bare handler that decodes the body and writes a fixed answer.
taskset -c 0 "$WORK/ofrepbench" -mode ceiling -addr "$ADDR" 2>/dev/null & pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://$ADDR/" && break; sleep 0.1; done
load "ceiling single" -H "X-API-Key: bench-key" -flag tier-replicas
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# flagops itself.
export FLAGOPS_SERVER="http://$ADDR" FLAGOPS_DATA_DIR="$WORK/data"
taskset -c 0 "$WORK/flagops" serve --listen "$ADDR" --data-dir "$WORK/data" --log-level warn \
  --ofrep-key static-bench-key=prod/bench >"$WORK/serve.log" 2>&1 & pids+=($!)
wait_up
"$WORK/flagops" apply -f - >/dev/null <<'YAML'
kind: Environment
name: prod
---
kind: Target
name: eu-1
environment: prod
---
kind: Project
name: bench
environments: [prod]
---
kind: Flag
project: bench
key: tier-replicas
type: number
variations: [{key: one, value: 1}, {key: three, value: 3}, {key: five, value: 5}]
environments:
  prod:
    enabled: true
    rules:
      - conditions: [{attribute: tier, operator: equals, values: [pro]}]
        variation: three
      - conditions: [{attribute: tier, operator: equals, values: [enterprise]}]
        variation: five
    fallthrough: {variation: one}
---
kind: Flag
project: bench
key: rollout-50
type: boolean
variations: [{key: "on", value: true}, {key: "off", value: false}]
environments:
  prod:
    enabled: true
    fallthrough: {rollout: [{variation: "on", weight: 50000}, {variation: "off", weight: 50000}]}
---
kind: Flag
project: bench
key: simple-bool
type: boolean
variations: [{key: "on", value: true}, {key: "off", value: false}]
environments:
  prod:
    enabled: true
    fallthrough: {variation: "on"}
YAML
if [ "$KEYKIND" = static ]; then
  KEY=static-bench-key
else
  KEY=$("$WORK/flagops" keys create ofrep-bench --role evaluator@environment/prod --role evaluator@project/bench)
fi
load "flagops single tier-replicas" -H "X-API-Key: $KEY" -flag tier-replicas -expect 3
load "flagops single rollout-50" -H "X-API-Key: $KEY" -flag rollout-50
load "flagops bulk (3 flags)" -H "X-API-Key: $KEY" -bulk

# Bulk of 100 flags: 97 more flags alike (a rule on tier, then a rollout).
for i in $(seq -w 1 97); do
  cat <<YAML
---
kind: Flag
project: bench
key: extra-$i
type: string
variations: [{key: a, value: "a"}, {key: b, value: "b"}, {key: c, value: "c"}]
environments:
  prod:
    enabled: true
    rules:
      - conditions: [{attribute: tier, operator: in, values: [pro, enterprise]}]
        rollout: [{variation: a, weight: 50000}, {variation: b, weight: 50000}]
    fallthrough: {variation: c}
YAML
done | "$WORK/flagops" apply -f - >/dev/null
load "flagops bulk (100 flags)" -H "X-API-Key: $KEY" -bulk
