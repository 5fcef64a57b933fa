# Shared by the load benches (sourced, not run): a standalone sandbox with
# Fansly's limits lifted on both sides. A throughput run drives one account
# far beyond what Fansly allows; with the limits on, every run turns into
# 429s after the first few calls (the sandbox's per-route read limit is
# 20/min, the gateway's own per-route buckets mirror it).
# Expects BIN, WORK, SANDBOX_PORT and a `pids` array (see bench_setup).

# BIN=path/to/fansly-gateway runs another build (e.g. the previous commit's,
# for a before/after pair) instead of building this tree; then a work
# directory (WORK), bench/out (OUT) and the list of started processes (pids).
bench_setup() {
  if [ -z "${BIN:-}" ]; then
    cargo build --release -p fansly-gateway >&2
    cargo build --release -p fansly-gateway --example bare_proxy >&2
    BIN=target/release/fansly-gateway
  fi
  WORK=$(mktemp -d)
  OUT=bench/out
  mkdir -p "$OUT"
  pids=()
}

wait_for() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "timeout waiting for $1" >&2; exit 1; }

# The gateway's account budget and route buckets, lifted (environment for `serve`).
lift_gateway_limits() {
  export FANSLY_GATEWAY_UPSTREAM__THROTTLE__READS_PER_MINUTE=100000000
  export FANSLY_GATEWAY_UPSTREAM__THROTTLE__WRITES_PER_MINUTE=100000000
  export FANSLY_GATEWAY_UPSTREAM__THROTTLE__BURST=1000000
  export FANSLY_GATEWAY_UPSTREAM__THROTTLE__ROUTE_READS_PER_MINUTE=100000000
  export FANSLY_GATEWAY_UPSTREAM__THROTTLE__ROUTE_BURST=1000000
}

# The sandbox on SANDBOX_PORT, up, with its per-route read limit off.
start_sandbox() {
  RUST_LOG=warn $BIN sandbox --listen 127.0.0.1:$SANDBOX_PORT 2>"$WORK/sandbox.log" &
  pids+=($!)
  wait_for http://127.0.0.1:$SANDBOX_PORT/_sandbox/creators
  curl -sf -X DELETE http://127.0.0.1:$SANDBOX_PORT/_sandbox/rate-limit
}

# The key the web app signs `fansly-client-check` with (spec §2.2).
CHECK_KEY=necvac-govry3-tybkYz

# The sandbox's first creator as a signed caller: sets TOKEN, DEVICE (a
# device id the sandbox issued) and SESSION (the token's session id).
signing_setup() {
  TOKEN=$(curl -s http://127.0.0.1:$SANDBOX_PORT/_sandbox/creators | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["token"])')
  DEVICE=$(curl -s "http://127.0.0.1:$SANDBOX_PORT/api/v1/device/id?ngsw-bypass=true" | python3 -c 'import json,sys; print(json.load(sys.stdin)["response"])')
  SESSION=$(python3 -c "import base64,sys; print(base64.b64decode(sys.argv[1]).decode().split(':')[0])" "$TOKEN")
}

# The signed headers of a request to PATH (`|`-separated, for request.lua),
# after signing_setup.
signed_headers() {
  printf 'authorization: %s|fansly-client-id: %s|fansly-session-id: %s|fansly-client-ts: %s|fansly-client-check: %s|origin: https://fansly.com' \
    "$TOKEN" "$DEVICE" "$SESSION" "$(date +%s%3N)" "$(python3 bench/client_check.py $CHECK_KEY "$1" "$DEVICE")"
}

# The users lookup as the gateway sends it to the sandbox, for the paths
# that bypass the gateway (direct, nginx, bare_proxy): sets TOKEN, LOOKUP
# (the path) and SIGNED (its headers). The web app's headers, not only the
# signed ones (fansly-upstream/src/headers.rs), so the sandbox reads as
# many headers on every path.
signed_lookup() {
  signing_setup
  local browser='user-agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0|accept: application/json, text/plain, */*|accept-language: en-US,en;q=0.9|referer: https://fansly.com/|sec-fetch-dest: empty|sec-fetch-mode: cors|sec-fetch-site: same-site'
  SIGNED="$browser|$(signed_headers /api/v1/account)|accept-encoding: gzip, deflate, br, zstd"
  LOOKUP="/api/v1/account?usernames=fan1&ngsw-bypass=true"
}
