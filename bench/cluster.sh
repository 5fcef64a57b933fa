#!/usr/bin/env bash
# Cluster benchmark (issue 12): gateway processes in cluster mode on one
# PostgreSQL and one Redis, behind nothing, each driven by its own wrk.
#
#   bench/cluster.sh                      # 1 instance, then 3, ~1,000 connections in all
#   NODES=3 CONNECTIONS=999 DURATION=10s bench/cluster.sh
#   PROFILE=debug DURATION=5s bench/cluster.sh   # the debug binary, no release build
#
# 1. Throughput: the users lookup (one credit, one Fansly call) through one
#    instance with CONNECTIONS connections, then through NODES instances
#    with CONNECTIONS/NODES each; after each run (instances stopped
#    gracefully) the credits are checked: the ledger sums to the balance,
#    every credit taken is one debit row, no hold is left, and at least as
#    many debits as answers wrk counted 2xx (a request cut off when wrk stops
#    may still complete and be charged: that is the difference).
# 2. Exactness: 1,000 concurrent calls spread round-robin over the NODES
#    instances by a team holding 500 credits: exactly 500 answers 200 and
#    500 answer 402, the balance ends at 0, the ledger sums to it.
#
# Needs wrk, python3, psql, PostgreSQL at 127.0.0.1:5432 (database `test`,
# user postgres, trust) and Redis at 127.0.0.1:6379. Raw wrk output goes to
# bench/out/. Prints one table.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-999}
NODES=${NODES:-3}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${REDIS:-redis://127.0.0.1:6379}
SANDBOX_PORT=${SANDBOX_PORT:-18290}
BASE_PORT=${BASE_PORT:-18280}
POOL=${POOL:-10}

command -v wrk >/dev/null || { echo "wrk is required: apt-get install wrk" >&2; exit 1; }
# PROFILE=debug runs the debug binary (checks the script and the credits;
# its speed means nothing).
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then cargo build --release -p fansly-gateway >&2; fi
BIN=target/$PROFILE/fansly-gateway
WORK=$(mktemp -d)
OUT=bench/out
mkdir -p "$OUT"
DBNAME=fgw_cluster_$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  psql "$PG/test" -qc "DROP DATABASE IF EXISTS $DBNAME" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
. bench/lib.sh
ulimit -n 65536 2>/dev/null || true

export RUST_LOG=warn
export FANSLY_GATEWAY_UPSTREAM__API_BASE=http://127.0.0.1:$SANDBOX_PORT
export FANSLY_GATEWAY_UPSTREAM__WS_URL="ws://127.0.0.1:$SANDBOX_PORT/?v=3"
lift_gateway_limits
export FANSLY_GATEWAY_DATA_DIR=$WORK/data
export FANSLY_GATEWAY_DATABASE_URL=$PG/$DBNAME
export FANSLY_GATEWAY_DATABASE_MAX_CONNECTIONS=$POOL
export FANSLY_GATEWAY_REDIS_URL=$REDIS
export FANSLY_GATEWAY_REDIS_PREFIX=fgw_bench_$$
mkdir -p "$FANSLY_GATEWAY_DATA_DIR"
psql "$PG/test" -qc "CREATE DATABASE $DBNAME" >/dev/null
sql() { psql "$PG/$DBNAME" -tAc "$1"; }

start_sandbox
export FANSLY_GATEWAY_MASTER_KEYS=$($BIN keys new-master 2>/dev/null)
TOKEN=$(curl -s http://127.0.0.1:$SANDBOX_PORT/_sandbox/creators | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["token"])')
team() { # credits -> "team key account"
  local team key acct
  team=$($BIN teams create --name "bench$1" --credits "$1" --rate-limit 100000000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  key=$($BIN keys create --team "$team" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  acct=$(FANSLY_TOKEN=$TOKEN $BIN accounts add-token --team "$team" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  echo "$team $key $acct"
}
read -r TEAM KEY ACCT < <(team 100000000)

nodes=()
start() { # n: starts instances 1..n
  nodes=()
  for i in $(seq "$1"); do
    FANSLY_GATEWAY_LISTEN=127.0.0.1:$((BASE_PORT + i)) $BIN serve 2>"$WORK/gateway_$i.log" &
    nodes+=($!)
  done
  for i in $(seq "$1"); do wait_for "http://127.0.0.1:$((BASE_PORT + i))/healthz"; done
}
stop() { for p in "${nodes[@]}"; do kill -TERM "$p"; done; for p in "${nodes[@]}"; do wait "$p" 2>/dev/null || true; done; nodes=(); }

# "credits_taken debit_rows ledger_sum balance holds" for a team
credits() {
  sql "SELECT (SELECT COALESCE(-SUM(delta),0) FROM credit_ledger WHERE team_id='$1' AND reason<>'initial grant'),
              (SELECT COUNT(*) FROM credit_ledger WHERE team_id='$1' AND reason='debit')
              - (SELECT COUNT(*) FROM credit_ledger WHERE team_id='$1' AND reason='refund'),
              (SELECT SUM(delta) FROM credit_ledger WHERE team_id='$1'),
              (SELECT credits FROM teams WHERE id='$1'),
              (SELECT COUNT(*) FROM credit_holds WHERE team_id='$1')" | tr '|' ' '
}

results=$WORK/results
throughput() { # name, instances
  local name=$1 n=$2 per=$(( CONNECTIONS / $2 )) before after
  before=$(credits "$TEAM")
  start "$n"
  for i in $(seq "$n"); do
    METHOD=GET HEADERS="authorization: Bearer $KEY" wrk -t1 -c"$per" -d"$DURATION" --latency -s bench/request.lua \
      "http://127.0.0.1:$((BASE_PORT + i))/api/fansly/$ACCT/users/fan1" >"$OUT/cluster_${name}_$i.txt" &
  done
  wait $(jobs -p | tail -n "$n")
  stop
  after=$(credits "$TEAM")
  python3 - "$name" "$n" "$per" "$before" "$after" "$OUT"/cluster_"${name}"_*.txt >>"$results" <<'PY'
import re, sys
name, n, per, before, after, *files = sys.argv[1:]
rps = ok = 0
for f in files:
    t = open(f).read()
    rps += float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    total = int(re.search(r"(\d+) requests in", t).group(1))
    ok += total - int(re.search(r"non2xx_or_errors: (\d+)", t).group(1))
b = list(map(int, before.split())); a = list(map(int, after.split()))
taken, debits = a[0] - b[0], a[1] - b[1]
exact = a[2] == a[3] and taken == debits and a[4] == 0 and debits >= ok
print(f"{name} {n} {int(n)*int(per)} {rps:.0f} {ok} {debits} {a[2]} {a[3]} {a[4]} {'yes' if exact else 'NO'}")
PY
}

echo "cluster bench: $(nproc) cores, wrk -t1 -d$DURATION per instance, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
throughput one 1
throughput cluster "$NODES"

# Exactness with the balance running out mid-load.
read -r POOR POOR_KEY POOR_ACCT < <(team 500)
start "$NODES"
spread=$(python3 - "$NODES" "$BASE_PORT" "$POOR_KEY" "$POOR_ACCT" <<'PY'
import sys, threading, urllib.request, urllib.error, collections
n, base, key, acct = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
counts, lock, go = collections.Counter(), threading.Lock(), threading.Event()
def call(i):
    req = urllib.request.Request(f"http://127.0.0.1:{base + 1 + i % n}/api/fansly/{acct}/users/fan1",
                                 headers={"authorization": f"Bearer {key}"})
    go.wait()
    try:
        status = urllib.request.urlopen(req, timeout=120).status
    except urllib.error.HTTPError as e:
        status = e.code
    except Exception as e:
        status = type(e).__name__
    with lock:
        counts[status] += 1
threads = [threading.Thread(target=call, args=(i,)) for i in range(1000)]
for t in threads: t.start()
go.set()
for t in threads: t.join()
print(counts.get(200, 0), counts.get(402, 0), sum(v for k, v in counts.items() if k not in (200, 402)))
PY
)
stop
read -r OK PAY OTHER <<<"$spread"
read -r TAKEN DEBITS LSUM BAL HOLDS < <(credits "$POOR")

python3 - "$results" <<'PY'
import sys
print(f"{'run':<8} {'nodes':>5} {'conns':>5} {'req/s':>8} {'wrk_2xx':>8} {'debits':>8} {'ledger':>10} {'balance':>10} {'holds':>5} {'exact':>5}")
rows = [l.split() for l in open(sys.argv[1])]
for r in rows:
    print(f"{r[0]:<8} {r[1]:>5} {r[2]:>5} {r[3]:>8} {r[4]:>8} {r[5]:>8} {r[6]:>10} {r[7]:>10} {r[8]:>5} {r[9]:>5}")
one, many = float(rows[0][3]), float(rows[1][3])
print(f"cluster / one instance: {many / one:.2f}x")
PY
echo "1,000 concurrent calls over $NODES instances, 500 credits: 200: $OK, 402: $PAY, other: $OTHER;" \
  "debits $DEBITS, balance $BAL, ledger sum $LSUM, holds $HOLDS" \
  "($([ "$OK" = 500 ] && [ "$PAY" = 500 ] && [ "$DEBITS" = 500 ] && [ "$BAL" = 0 ] && [ "$LSUM" = 0 ] && [ "$HOLDS" = 0 ] && echo exact || echo NOT EXACT))"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
