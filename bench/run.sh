#!/usr/bin/env bash
# Load benchmark: Create Chat and the users lookup through the gateway, and the
# same Fansly calls straight to the sandbox, on loopback with wrk.
#
#   bench/run.sh                 # SQLite
#   DB=postgres bench/run.sh     # PostgreSQL at 127.0.0.1:5432
#   DURATION=20s CONNECTIONS=64 bench/run.sh
#   MODE=side bench/run.sh       # side by side (issue 12): the users lookup
#                                # straight to the sandbox, through nginx
#                                # (1 worker, upstream keepalive) and through
#                                # the gateway on each database in DBS
#                                # (default "sqlite postgres"); prints the
#                                # ratio gateway/nginx and the p50/p99 added.
#   BIN=/tmp/old/fansly-gateway MODE=side bench/run.sh
#                                # the same run with another build.
#                                # MODE=side also runs the same request
#                                # through bare_proxy (crates/gateway/
#                                # examples/bare_proxy.rs: the gateway's
#                                # server and client stack with none of its
#                                # logic), from BARE_BIN or beside BIN
#                                # (cargo build --release --example
#                                # bare_proxy); skipped when absent.
#   PERF=1 MODE=side bench/run.sh
#                                # also records the gateway under load with
#                                # perf (apt-get install linux-perf) into
#                                # bench/out/perf_<db>.data.
#   GATEWAY_THREADS=1 MODE=side bench/run.sh
#                                # the gateway with one runtime worker thread
#                                # (TOKIO_WORKER_THREADS), for a box whose
#                                # cores it shares with the sandbox and wrk.
#
# Needs wrk (apt-get install wrk), python3, and for MODE=side nginx
# (apt-get install nginx-light); only 127.0.0.1 is targeted. Prints a table; raw wrk output
# goes to bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
DB=${DB:-sqlite}
MODE=${MODE:-table}
DBS=${DBS:-sqlite postgres}
NGINX_PORT=${NGINX_PORT:-18170}
BARE_PORT=${BARE_PORT:-18160}
SANDBOX_PORT=${SANDBOX_PORT:-18190}
GATEWAY_PORT=${GATEWAY_PORT:-18180}

command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
. bench/lib.sh
bench_setup
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT


stat() { # name, wrk output file -> "name rps p50 p99 errors"
  python3 - "$1" "$2" <<'PY'
import re, sys
name, path = sys.argv[1:3]
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
errs = re.search(r"non2xx_or_errors: (\d+)", text).group(1)
print(f"{name} {rps:.0f} {pct(50):.2f} {pct(99):.2f} {errs}")
PY
}

if [ "$MODE" = side ]; then
  command -v nginx >/dev/null || { echo "nginx is required: apt-get install nginx-light" >&2; exit 1; }
  export RUST_LOG=warn
  export FANSLY_GATEWAY_UPSTREAM__API_BASE=http://127.0.0.1:$SANDBOX_PORT
  export FANSLY_GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT
  lift_gateway_limits
  start_sandbox
  # The direct and nginx runs ask for compressed answers as the gateway does
  # (the sandbox compresses for all three alike on this shared machine).
  export FANSLY_GATEWAY_MASTER_KEYS=$($BIN keys new-master 2>/dev/null)
  signed_lookup
  # A bare reverse proxy: one worker, keepalive to the upstream.
  cat >"$WORK/nginx.conf" <<NGX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx_error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  upstream sandbox { server 127.0.0.1:$SANDBOX_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://sandbox;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
NGX
  nginx -c "$WORK/nginx.conf" -p "$WORK" &
  pids+=($!)
  sleep 0.5
  wrk_to() { METHOD=GET HEADERS=$3 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/request.lua "$2" >"$OUT/$1.txt"; stat "$1" "$OUT/$1.txt"; }
  echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  results=$(mktemp)
  cpu_notes=$(mktemp)
  # utime + stime of a process, in clock ticks.
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  sys_ticks() { awk '{print $15}' "/proc/$1/stat"; }
  # The local PostgreSQL's processes together (it shares the two cores).
  # Context switches of all a process's threads (voluntary + involuntary).
  switches() { cat /proc/$1/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s}'; }
  # Requests a wrk run made ($1 its output), and a count's growth per request
  # over it ($1 before, $2 after, $3 the wrk output).
  requests_in() { grep -oE '[0-9]+ requests in' "$1" | cut -d' ' -f1; }
  per_request() { awk -v a="$1" -v b="$2" -v n="$(requests_in "$3")" 'BEGIN {printf "%.2f", (b - a) / n}'; }
  pg_ticks() { local sum=0 t; for p in $(pgrep -u postgres); do t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && sum=$((sum + t)); done; echo "$sum"; }
  sandbox_pid=${pids[0]}
  nginx_pid=${pids[1]}
  # CPU per request of a process over one wrk run: $1 label, $2 pid, $3 ticks
  # before, $4 the wrk output. nginx's worker is its master's child.
  # With a fifth argument (kernel ticks before), also the kernel's part.
  cpu_note() {
    local n kernel=""; n=$(requests_in "$4")
    if [ -n "${5:-}" ]; then
      kernel=", of which in the kernel $(( ($(sys_ticks "$2") - $5) * 1000000 / $(getconf CLK_TCK) / n )) µs"
    fi
    echo "$1 CPU per request: $(( ($(cpu_ticks "$2") - $3) * 1000000 / $(getconf CLK_TCK) / n )) µs$kernel" >>"$cpu_notes"
  }
  sb=$(cpu_ticks "$sandbox_pid")
  wrk_to sandbox_direct "http://127.0.0.1:$SANDBOX_PORT$LOOKUP" "$SIGNED" >>"$results"
  cpu_note "sandbox (direct)" "$sandbox_pid" "$sb" "$OUT/sandbox_direct.txt"
  nginx_worker=$(pgrep -P "$nginx_pid" | head -1)
  sb=$(cpu_ticks "$sandbox_pid"); ng=$(cpu_ticks "$nginx_worker"); ngk=$(sys_ticks "$nginx_worker")
  wrk_to nginx "http://127.0.0.1:$NGINX_PORT$LOOKUP" "$SIGNED" >>"$results"
  cpu_note "sandbox (behind nginx)" "$sandbox_pid" "$sb" "$OUT/nginx.txt"
  cpu_note "nginx worker" "$nginx_worker" "$ng" "$OUT/nginx.txt" "$ngk"
  # The floor of the gateway's own stack: axum's server and hyper's client
  # relaying the same request, with none of the gateway's work.
  BARE_BIN=${BARE_BIN:-$(dirname "$BIN")/examples/bare_proxy}
  if [ -x "$BARE_BIN" ]; then
    BARE_LISTEN=127.0.0.1:$BARE_PORT BARE_UPSTREAM=127.0.0.1:$SANDBOX_PORT "$BARE_BIN" &
    bare_pid=$!
    pids+=("$bare_pid")
    wait_for "http://127.0.0.1:$BARE_PORT/_sandbox/creators"
    sb=$(cpu_ticks "$sandbox_pid"); bp=$(cpu_ticks "$bare_pid"); bpk=$(sys_ticks "$bare_pid"); bsw=$(switches "$bare_pid")
    wrk_to bare_hyper "http://127.0.0.1:$BARE_PORT$LOOKUP" "$SIGNED" >>"$results"
    cpu_note "sandbox (behind bare_hyper)" "$sandbox_pid" "$sb" "$OUT/bare_hyper.txt"
    cpu_note "bare_hyper" "$bare_pid" "$bp" "$OUT/bare_hyper.txt" "$bpk"
    echo "bare_hyper thread switches per request: $(per_request "$bsw" "$(switches "$bare_pid")" "$OUT/bare_hyper.txt")" >>"$cpu_notes"
  else
    echo "bare_hyper skipped: no $BARE_BIN (cargo build --release --example bare_proxy)" >>"$cpu_notes"
  fi
  for db in $DBS; do
    unset FANSLY_GATEWAY_DATABASE_URL
    export FANSLY_GATEWAY_DATA_DIR=$WORK/$db
    mkdir -p "$FANSLY_GATEWAY_DATA_DIR"
    if [ "$db" = postgres ]; then
      DBNAME=fgw_bench_${$}_pg
      psql postgres://postgres@127.0.0.1:5432/test -qc "CREATE DATABASE $DBNAME" >/dev/null
      export FANSLY_GATEWAY_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DBNAME
    fi
    TEAM=$($BIN teams create --name bench --credits 100000000 --rate-limit 100000000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    KEY=$($BIN keys create --team "$TEAM" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
    ACCT=$(FANSLY_TOKEN=$TOKEN $BIN accounts add-token --team "$TEAM" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    env ${GATEWAY_THREADS:+TOKIO_WORKER_THREADS=$GATEWAY_THREADS} $BIN serve 2>"$WORK/gateway_$db.log" &
    gw=$!
    wait_for http://127.0.0.1:$GATEWAY_PORT/healthz
    cpu_before=$(cpu_ticks "$gw"); pg_before=$(pg_ticks); sys_before=$(sys_ticks "$gw"); sb=$(cpu_ticks "$sandbox_pid"); sw_before=$(switches "$gw")
    if [ "$db" = postgres ]; then
      commits_before=$(psql "$FANSLY_GATEWAY_DATABASE_URL" -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    fi
    if [ -n "${PERF:-}" ]; then
      # The gateway's samples with DWARF call graphs, for `perf report`.
      perf record -q -F 499 --call-graph dwarf,16384 -p "$gw" -o "$OUT/perf_$db.data" 2>/dev/null &
      perf_pid=$!
    fi
    wrk_to "gateway_$db" "http://127.0.0.1:$GATEWAY_PORT/api/fansly/$ACCT/users/fan1" "authorization: Bearer $KEY" >>"$results"
    if [ -n "${PERF:-}" ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
    cpu_after=$(cpu_ticks "$gw"); pg_after=$(pg_ticks); sys_after=$(sys_ticks "$gw")
    sw_after=$(switches "$gw")
    cpu_note "sandbox (behind gateway_$db)" "$sandbox_pid" "$sb" "$OUT/gateway_$db.txt"
    requests=$(requests_in "$OUT/gateway_$db.txt")
    # CPU time per request drifts far less than req/s on a shared machine.
    echo "gateway_$db CPU per request: $(( (cpu_after - cpu_before) * 1000000 / $(getconf CLK_TCK) / requests )) µs, of which in the kernel $(( (sys_after - sys_before) * 1000000 / $(getconf CLK_TCK) / requests )) µs; $(per_request "$sw_before" "$sw_after" "$OUT/gateway_$db.txt") thread switches per request" >>"$cpu_notes"
    if [ "$db" = postgres ]; then
      echo "postgres server CPU per request: $(( (pg_after - pg_before) * 1000000 / $(getconf CLK_TCK) / requests )) µs" >>"$cpu_notes"
    fi
    # How many calls one credit transaction carried on average: the group
    # commit's batching under this load (fewer, larger commits cost less).
    curl -sf "http://127.0.0.1:$GATEWAY_PORT/metrics" | awk -v db="$db" \
      '/^fgw_credit_batch_calls_sum/ {s=$2} /^fgw_credit_batch_calls_count/ {c=$2}
       END {if (c > 0) printf "gateway_%s credit commits: %d, %.1f calls each\n", db, c, s / c}' >>"$cpu_notes"
    kill "$gw"; wait "$gw" 2>/dev/null || true
    if [ "$db" = postgres ]; then
      # What each request cost PostgreSQL: transactions, and rows written per
      # table (statistics reach the views within a second of the writes).
      sleep 1.5
      psql "$FANSLY_GATEWAY_DATABASE_URL" -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()" |
        awk -v b="$commits_before" -v n="$requests" '{printf "postgres transactions per request: %.3f\n", ($1 - b) / n}' >>"$cpu_notes"
      psql "$FANSLY_GATEWAY_DATABASE_URL" -AtF' ' -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY relname" |
        awk -v n="$requests" '{printf "postgres rows per request, %s: %.3f inserted, %.3f updated, %.3f deleted\n", $1, $2 / n, $3 / n, $4 / n}' >>"$cpu_notes"
      psql postgres://postgres@127.0.0.1:5432/test -qc "DROP DATABASE IF EXISTS $DBNAME" >/dev/null 2>&1 || true
    fi
  done
  python3 - "$results" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {r[0]: (float(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows}
ng = by["nginx"]
print(f"{'path':<18} {'req/s':>9} {'p50_ms':>8} {'p99_ms':>8} {'errors':>7} {'x_nginx':>8} {'+p50_ms':>8} {'+p99_ms':>8}")
for name, (rps, p50, p99, errs) in by.items():
    extra = ""
    if name.startswith("gateway") or name == "bare_hyper":
        extra = f" {rps / ng[0]:>8.2f} {p50 - ng[1]:>8.2f} {p99 - ng[2]:>8.2f}"
    print(f"{name:<18} {rps:>9.0f} {p50:>8.2f} {p99:>8.2f} {errs:>7}{extra}")
PY
  cat "$cpu_notes"
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
  rm -f "$results" "$cpu_notes"
  exit 0
fi

if [ "$DB" = postgres ]; then
  DBNAME=fgw_bench_$$
  psql postgres://postgres@127.0.0.1:5432/test -qc "CREATE DATABASE $DBNAME" >/dev/null
  export FANSLY_GATEWAY_DATABASE_URL=postgres://postgres@127.0.0.1:5432/$DBNAME
  trap 'cleanup; psql postgres://postgres@127.0.0.1:5432/test -qc "DROP DATABASE IF EXISTS $DBNAME" >/dev/null 2>&1 || true' EXIT
fi
export FANSLY_GATEWAY_DATA_DIR=$WORK
export FANSLY_GATEWAY_UPSTREAM__API_BASE=http://127.0.0.1:$SANDBOX_PORT
export FANSLY_GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT
export RUST_LOG=warn
lift_gateway_limits
start_sandbox

export FANSLY_GATEWAY_MASTER_KEYS=$($BIN keys new-master 2>/dev/null)
TEAM=$($BIN teams create --name bench --credits 100000000 --rate-limit 100000000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
KEY=$($BIN keys create --team "$TEAM" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
# TOKEN (the account the gateway connects), DEVICE and SESSION for the
# direct-to-sandbox requests below.
signing_setup
ACCT=$(FANSLY_TOKEN=$TOKEN $BIN accounts add-token --team "$TEAM" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

$BIN serve 2>"$WORK/gateway.log" &
pids+=($!)
wait_for http://127.0.0.1:$GATEWAY_PORT/healthz

GW=http://127.0.0.1:$GATEWAY_PORT
FAN=$(curl -s -H "Authorization: Bearer $KEY" $GW/api/fansly/$ACCT/users/fan1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
ME=$(curl -s http://127.0.0.1:$SANDBOX_PORT/_sandbox/creators | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["account_id"])')

run() { # name, method, url, headers, body
  local name=$1 method=$2 url=$3
  METHOD=$method HEADERS=$4 BODY=${5:-} wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/request.lua "$url" >"$OUT/$name.txt"
  python3 - "$name" "$OUT/$name.txt" <<'PY'
import re, sys
name, path = sys.argv[1:3]
text = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
errs = re.search(r"non2xx_or_errors: (\d+)", text).group(1)
print(f"{name:<28} {rps:>10.0f} {pct(50):>9.2f} {pct(99):>9.2f} {errs:>8}")
PY
}

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, database: $DB, $(nproc) cores"
printf '%-28s %10s %9s %9s %8s\n' scenario req/s p50_ms p99_ms errors
run gateway_create_chat POST "$GW/api/fansly/$ACCT/chats" "authorization: Bearer $KEY" "{\"user_id\":\"$FAN\"}"
# Direct-to-sandbox requests carry the signed headers the gateway sends
# (strict check; without the browser's, as this table always measured).
run sandbox_post_group POST "http://127.0.0.1:$SANDBOX_PORT/api/v1/group?ngsw-bypass=true" "$(signed_headers /api/v1/group)" \
  "{\"users\":[{\"userId\":\"$ME\",\"permissionFlags\":0},{\"userId\":\"$FAN\",\"permissionFlags\":0}],\"recipients\":[],\"lastMessage\":null,\"userSettings\":null,\"type\":1}"
run gateway_users_lookup GET "$GW/api/fansly/$ACCT/users/fan1" "authorization: Bearer $KEY"
run sandbox_account_lookup GET "http://127.0.0.1:$SANDBOX_PORT/api/v1/account?usernames=fan1&ngsw-bypass=true" "$(signed_headers /api/v1/account)"
