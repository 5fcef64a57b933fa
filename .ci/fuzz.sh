#!/usr/bin/env bash
# Schema fuzzing (issue 16): schemathesis, pinned, against a sandbox gateway
# (`serve --sandbox` on a free port, its data in a temp dir, the sandbox's
# API key), with all checks, for a bounded time. Fails on any 5xx, non-JSON
# error or answer that contradicts /openapi.json.
# Every check runs (schemathesis' default; not `--checks all` on the command
# line, which would override the per-operation settings of the config file).
# positive_data_acceptance ("valid input rejected") runs where the document's
# types are the whole rule; .ci/schemathesis.toml turns it off only for the
# vendor's account routes, which type Fansly ids, limits and dates as plain
# strings (the vendor's document does) and rightly answer 422 to a string
# that is not one ("chat_id must be a Fansly id").
# Tunables: FUZZ_MAX_EXAMPLES (per operation and phase, default 10) and
# FUZZ_SECONDS (hard bound, default 600: a run that has not finished by then
# fails, as a hang would).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
if ! schemathesis --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet -p fansly-gateway --bin fansly-gateway
data="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# The account's Fansly budget is the throttle's own test; here it would only
# make the fuzzer wait.
FANSLY_GATEWAY_UPSTREAM__THROTTLE__READS_PER_MINUTE=1000000 \
FANSLY_GATEWAY_UPSTREAM__THROTTLE__WRITES_PER_MINUTE=1000000 \
FANSLY_GATEWAY_UPSTREAM__THROTTLE__BURST=10000 \
  target/debug/fansly-gateway --data-dir "$data" serve --sandbox --listen "127.0.0.1:$port" \
  >"$data/gateway.log" 2>&1 &
gateway=$!
cleanup() {
  kill "$gateway" 2>/dev/null || true
  wait "$gateway" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

for _ in $(seq 1 120); do
  if curl -fsS "$base/readyz" >/dev/null 2>&1 && [ -s "$data/sandbox-api-key" ]; then break; fi
  sleep 0.5
done
if ! curl -fsS "$base/readyz" >/dev/null 2>&1 || [ ! -s "$data/sandbox-api-key" ]; then
  echo "the sandbox gateway did not become ready; its log:"
  cat "$data"/*.log 2>/dev/null || true
  exit 1
fi
key="$(cat "$data/sandbox-api-key")"
FUZZ_ACCOUNT="$(curl -fsS -H "Authorization: Bearer $key" "$base/api/fansly/accounts" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')"
export FUZZ_ACCOUNT
# Disconnect Account is fuzzed on an account of its own (a login that never
# connects), so the rest of the run keeps FUZZ_ACCOUNT.
FUZZ_SPARE_ACCOUNT="$(curl -fsS -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"username":"fuzz-spare","password":"not-a-password"}' "$base/api/fansly/authenticate" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["account_id"])')"
export FUZZ_SPARE_ACCOUNT

started=$(date +%s)
status=0
timeout "${FUZZ_SECONDS:-600}" schemathesis --config-file .ci/schemathesis.toml run "$base/openapi.json" \
  --url "$base" \
  -H "Authorization: Bearer $key" \
  --max-examples "${FUZZ_MAX_EXAMPLES:-10}" \
  --generation-deterministic \
  --request-timeout 30 \
  --workers 2 \
  --report junit --report-dir "$data/report" || status=$?
echo "== schemathesis finished in $(( $(date +%s) - started )) s (exit $status)"
if [ "$status" -ne 0 ]; then
  echo "-- gateway log (last 40 lines)"
  tail -n 40 "$data/gateway.log" || true
fi
exit "$status"
