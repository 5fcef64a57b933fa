#!/usr/bin/env bash
# Relay benchmark: (a) latency from a sandbox websocket frame to the gateway's
# outbox row (p50/p99), (c) latency from the sandbox frame to a webhook
# receiver (registered through the API; paced, then a burst), (b) how many
# relayed accounts one gateway holds and its memory per account. A
# measurement, not a test.
#
#   bench/relay.sh                         # 1000 messages at 2,000/s (RATE); 300 paced + 500 burst e2e; 100, 500, 1000 accounts; SQLite
#   RATE=0 MESSAGES=200 PACE_MS=10 STEPS=100,200 bench/relay.sh   # one after another, paced; STEPS= skips (b)
#   E2E_PACED=300 E2E_PACE_MS=10 E2E_BURST=500 bench/relay.sh   # (c); both 0 skips it
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> bench/relay.sh
#
# The sandbox runs as its own process so the gateway's RSS is measured alone
# (crates/gateway/examples/relay_bench.rs runs the gateway in-process).
set -euo pipefail
cd "$(dirname "$0")/.."

SANDBOX_PORT=${SANDBOX_PORT:-18390}
# One socket per account on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release -p fansly-gateway --bin fansly-gateway --example relay_bench >&2
BIN=target/release/fansly-gateway
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

RUST_LOG=warn $BIN sandbox --listen 127.0.0.1:$SANDBOX_PORT 2>"$WORK/sandbox.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:$SANDBOX_PORT/_sandbox/creators && break; sleep 0.1; done
# THROTTLE=off lifts Fansly's limits on both sides: the gateway's budget
# (relay_bench.rs) and the sandbox's per-route read limit (20/min).
if [ "${THROTTLE:-}" = off ]; then
  curl -sf -X DELETE http://127.0.0.1:$SANDBOX_PORT/_sandbox/rate-limit
fi

RUST_LOG=warn SANDBOX_URL=http://127.0.0.1:$SANDBOX_PORT target/release/examples/relay_bench
