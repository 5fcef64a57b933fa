#!/usr/bin/env bash
# Memory benchmark: upload one large file (default 100 MiB) through the gateway
# and report how much the gateway's resident set grows while it does.
#
#   bench/upload_rss.sh               # 100 MiB, SQLite
#   SIZE_MB=50 bench/upload_rss.sh
#
# The sandbox runs as its own process so only the gateway is measured. RSS is
# sampled from /proc/<pid>/status every 20 ms; the figure reported is the peak
# during the upload minus the RSS just before it (after a warm-up upload).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-100}
SANDBOX_PORT=${SANDBOX_PORT:-18290}
GATEWAY_PORT=${GATEWAY_PORT:-18280}

cargo build --release -p fansly-gateway >&2
BIN=target/release/fansly-gateway
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

export FANSLY_GATEWAY_DATA_DIR=$WORK
export FANSLY_GATEWAY_UPSTREAM__API_BASE=http://127.0.0.1:$SANDBOX_PORT
export FANSLY_GATEWAY_UPSTREAM__MEDIA_BASE=http://127.0.0.1:$SANDBOX_PORT
export FANSLY_GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT
export FANSLY_GATEWAY_MEDIA__POLL_INTERVAL_MS=100
export RUST_LOG=warn

$BIN sandbox --listen 127.0.0.1:$SANDBOX_PORT 2>"$WORK/sandbox.log" &
pids+=($!)
wait_for() { for _ in $(seq 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "timeout waiting for $1" >&2; exit 1; }
wait_for http://127.0.0.1:$SANDBOX_PORT/_sandbox/creators

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TEAM=$($BIN teams create --name bench --credits 100000000 | json '["id"]')
KEY=$($BIN keys create --team "$TEAM" 2>/dev/null | json '["key"]')
TOKEN=$(curl -s http://127.0.0.1:$SANDBOX_PORT/_sandbox/creators | json '[0]["token"]')
ACCT=$(FANSLY_TOKEN=$TOKEN $BIN accounts add-token --team "$TEAM" 2>/dev/null | json '["id"]')

$BIN serve 2>"$WORK/gateway.log" &
GW_PID=$!
pids+=($GW_PID)
wait_for http://127.0.0.1:$GATEWAY_PORT/healthz
GW=http://127.0.0.1:$GATEWAY_PORT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$GW_PID/status"; }
upload() { # file → answer
  curl -sf -H "Authorization: Bearer $KEY" -F "file=@$1;type=video/mp4" "$GW/api/fansly/$ACCT/media/upload"
}

head -c $((1024 * 1024)) /dev/urandom >"$WORK/warm.mp4"
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$WORK/big.mp4"
upload "$WORK/warm.mp4" >/dev/null

BASE=$(rss_kb)
( peak=0; while kill -0 $GW_PID 2>/dev/null; do
    r=$(rss_kb); [ "$r" -gt "$peak" ] && peak=$r && echo "$peak" >"$WORK/peak"
    sleep 0.02
  done ) &
SAMPLER=$!
START=$(date +%s.%N)
ANSWER=$(upload "$WORK/big.mp4") || { echo "the upload failed (over media.max_upload_bytes?)" >&2; exit 1; }
END=$(date +%s.%N)
sleep 0.1
kill $SAMPLER 2>/dev/null || true
PEAK=$(cat "$WORK/peak")
AFTER=$(rss_kb)

echo "$ANSWER" | python3 -c 'import json,sys; a=json.load(sys.stdin); print("uploaded", a["prefixed_id"], "media", a["media_id"], "credits", a["credits_used"])'
python3 - "$SIZE_MB" "$BASE" "$PEAK" "$AFTER" "$START" "$END" <<'PY'
import sys
size, base, peak, after, start, end = sys.argv[1], *map(float, sys.argv[2:])
print(f"file {size} MiB, {end - start:.1f} s end to end")
print(f"gateway RSS before {base/1024:.1f} MiB, peak {peak/1024:.1f} MiB, after {after/1024:.1f} MiB")
print(f"growth during the upload: {(peak - base)/1024:.1f} MiB")
PY
