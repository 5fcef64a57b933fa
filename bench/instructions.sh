#!/usr/bin/env bash
# Instructions per request of the users lookup, counted by callgrind: a
# measure of the gateway's own cost that the load of a shared machine does
# not move (req/s and CPU time on this 2-core box drift by ±15 % from one run
# to the next). Only the gateway runs under valgrind; the sandbox and wrk run
# natively. Instrumentation is switched on for the measured window alone, so
# start-up and warm-up are not counted.
#
#   bench/instructions.sh                         # SQLite, this tree's build
#   DB=postgres bench/instructions.sh
#   BIN=/tmp/old/fansly-gateway bench/instructions.sh   # another build
#   DB=bare bench/instructions.sh    # bare_proxy (beside BIN, in examples/)
#                                    # relaying the same Fansly request: the
#                                    # floor of the stack; the gateway's own
#                                    # work is its count less this one
#
# Under valgrind the gateway runs ~50x slower on one thread, so batches of
# the group commit are larger than in a native run; compare builds with the
# same settings, not these counts with native CPU time.
# Needs valgrind, wrk, python3; only 127.0.0.1 is targeted.
set -euo pipefail
cd "$(dirname "$0")/.."

DB=${DB:-sqlite}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-16}
SANDBOX_PORT=${SANDBOX_PORT:-18191}
GATEWAY_PORT=${GATEWAY_PORT:-18181}

command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
. bench/lib.sh
bench_setup
DBNAME=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$DBNAME" ]; then
    sleep 1
    psql postgres://postgres@127.0.0.1:5432/test -qc "DROP DATABASE IF EXISTS $DBNAME" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export RUST_LOG=warn
export FANSLY_GATEWAY_UPSTREAM__API_BASE=http://127.0.0.1:$SANDBOX_PORT
export FANSLY_GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT
export FANSLY_GATEWAY_DATA_DIR=$WORK/data
mkdir -p "$FANSLY_GATEWAY_DATA_DIR"
if [ "$DB" = postgres ]; then
  DBNAME=fgw_instr_$$
  psql postgres://postgres@127.0.0.1:5432/test -qc "CREATE DATABASE $DBNAME" >/dev/null
  export FANSLY_GATEWAY_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DBNAME
fi
lift_gateway_limits
start_sandbox
if [ "$DB" = bare ]; then
  # The same request the gateway sends, relayed by bare_proxy (axum's server,
  # hyper's pooled client, the same runtime and allocator, no gateway work).
  BARE_BIN=${BARE_BIN:-$(dirname "$BIN")/examples/bare_proxy}
  [ -x "$BARE_BIN" ] || { echo "no $BARE_BIN (cargo build --release --example bare_proxy)" >&2; exit 1; }
  signed_lookup
  URL="http://127.0.0.1:$GATEWAY_PORT$LOOKUP"
  HDR=$SIGNED
  BARE_LISTEN=127.0.0.1:$GATEWAY_PORT BARE_UPSTREAM=127.0.0.1:$SANDBOX_PORT \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind_$DB.out" \
    "$BARE_BIN" 2>"$WORK/gateway.log" &
  gw=$!
  pids+=($gw)
  for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/_sandbox/creators" && break; sleep 0.2; done
else
  export FANSLY_GATEWAY_MASTER_KEYS=$($BIN keys new-master 2>/dev/null)
  TOKEN=$(curl -s http://127.0.0.1:$SANDBOX_PORT/_sandbox/creators | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["token"])')
  TEAM=$($BIN teams create --name bench --credits 100000000 --rate-limit 100000000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  KEY=$($BIN keys create --team "$TEAM" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  ACCT=$(FANSLY_TOKEN=$TOKEN $BIN accounts add-token --team "$TEAM" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind_$DB.out" \
    "$BIN" serve 2>"$WORK/gateway.log" &
  gw=$!
  pids+=($gw)
  for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$GATEWAY_PORT/healthz" && break; sleep 0.2; done
  URL="http://127.0.0.1:$GATEWAY_PORT/api/fansly/$ACCT/users/fan1"
  HDR="authorization: Bearer $KEY"
fi
# Warm-up (connections, caches, prepared statements), not counted.
METHOD=GET HEADERS=$HDR wrk -t1 -c"$CONNECTIONS" -d5s -s bench/request.lua "$URL" >/dev/null
callgrind_control -i on "$gw" >/dev/null
METHOD=GET HEADERS=$HDR wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s bench/request.lua "$URL" >"$OUT/instructions_$DB.txt"
callgrind_control -i off "$gw" >/dev/null
kill "$gw"; wait "$gw" 2>/dev/null || true
requests=$(grep -oE '[0-9]+ requests in' "$OUT/instructions_$DB.txt" | cut -d' ' -f1)
errors=$(grep -oE 'non2xx_or_errors: [0-9]+' "$OUT/instructions_$DB.txt" | cut -d' ' -f2)
total=$(awk '/^totals:/ {t += $2} END {print t}' "$OUT/callgrind_$DB.out")
echo "$DB: $requests requests ($errors errors), $total instructions, $((total / requests)) per request"
