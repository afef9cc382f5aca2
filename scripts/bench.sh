#!/usr/bin/env bash
# Side-by-side measurements with realtime-bench (docs/performance.md): realtimed and the Node
# socket.io peer, each started fresh for every run on the same database of the private
# PostgreSQL (scripts/pg.sh), runs alternating between the two servers. Every result is a JSON
# line in bench-results/<time>.jsonl; the comparison table is printed at the end.
#
#   scripts/bench.sh [full|quick]     full: the targets of docs/performance.md (≈5 minutes a round)
#                                     quick: small sizes, a minute or two
#   PEER_DIR   the Node peer (default: ../shared/peer/node-socketio next to the repository);
#              without it, realtimed alone is measured
#   SERVERS    which servers, in the order of odd rounds (even rounds reverse it): among realtimed
#              (the notify event source), realtimed-wal (REALTIME_SOURCE=wal) and node (the peer);
#              default "realtimed node", or realtimed alone without the peer. With both realtimed
#              and realtimed-wal the end prints the wal source against the notify one, e.g.
#              SERVERS="realtimed realtimed-wal" WORKLOADS=personal ROUNDS=3 scripts/bench.sh
#   ROUNDS     how many times each run is repeated, alternating which server goes first (1)
#   WORKLOADS  which runs, among idle burst paced personal (all of them)
#   IDLE_ARGS, BURST_ARGS, PACED_ARGS, PERSONAL_ARGS   replace a run's realtime-bench flags,
#              e.g. PERSONAL_ARGS="-clients 5000 -rate 1000 -duration 30s"
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mode=${1:-full}
rounds=${ROUNDS:-1}
workloads=" ${WORKLOADS:-idle burst paced personal} "
peer_src=${PEER_DIR:-$root/../shared/peer/node-socketio}
secret=bench-secret
rt_port=3201
node_port=3301

log() { echo "bench.sh: $*" >&2; }

case "$mode" in
  full)
    idle=(-clients 10000)
    burst=(-clients 1000 -events 2000 -payload-bytes 300 -rate 0)
    paced=(-clients 1000 -events 600 -payload-bytes 300 -rate 20)
    personal=(-clients 5000 -rate 2000 -duration 30s)
    ;;
  quick)
    idle=(-clients 1000 -settle-min 5s)
    burst=(-clients 200 -events 300 -payload-bytes 300 -rate 0)
    paced=(-clients 200 -events 100 -payload-bytes 300 -rate 20)
    personal=(-clients 500 -rate 200 -duration 5s)
    ;;
  *) echo "usage: $0 [full|quick]" >&2; exit 2 ;;
esac

[ -n "${IDLE_ARGS:-}" ] && read -ra idle <<<"$IDLE_ARGS"
[ -n "${BURST_ARGS:-}" ] && read -ra burst <<<"$BURST_ARGS"
[ -n "${PACED_ARGS:-}" ] && read -ra paced <<<"$PACED_ARGS"
[ -n "${PERSONAL_ARGS:-}" ] && read -ra personal <<<"$PERSONAL_ARGS"

command -v go >/dev/null 2>&1 || { log "Go is required"; exit 1; }
# Every client is a socket in the bench and one in the server: lift the open-file limit (root may
# raise the hard limit too), which both inherit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 11000 ] || log "open-file limit $(ulimit -n): the full idle run needs about 10,100"

scripts/build.sh
go build -o bin/realtime-bench ./cmd/realtime-bench

peer=""
if [ -f "$peer_src/server.js" ]; then
  scripts/deps.sh node
  peer=$root/.cache/node-peer
  mkdir -p "$peer"
  cp "$peer_src/package.json" "$peer_src/package-lock.json" "$peer_src/server.js" "$peer/"
  chmod u+w "$peer"/*
  (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
else
  log "no Node peer in $peer_src (set PEER_DIR): measuring realtimed alone"
fi

admin=$(scripts/pg.sh start)
psql_bin="$(scripts/pg.sh bindir)/psql"
"$psql_bin" "$admin" -qc "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'realtimed_bench'"
"$psql_bin" "$admin" -qc "DROP DATABASE IF EXISTS realtimed_bench WITH (FORCE)"
"$psql_bin" "$admin" -qc "CREATE DATABASE realtimed_bench"
db="${admin%/postgres*}/realtimed_bench?sslmode=disable"
DATABASE_URL=$db REALTIME_REFERENCE_SCHEMA=true bin/realtimed migrate up >/dev/null
DATABASE_URL=$db REALTIME_REFERENCE_SCHEMA=true bin/realtimed triggers apply >/dev/null

mkdir -p bench-results
out=bench-results/$(date -u +%Y%m%dT%H%M%SZ)-$mode.jsonl
logs=${out%.jsonl}.log
server_pid=""

wait_http() { # url: wait until it answers 200
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$1 did not come up (see $logs)"; exit 1
}

start() { # server
  case "$1" in
    realtimed | realtimed-wal)
      local source=notify
      [ "$1" = realtimed-wal ] && source=wal
      # One machine opens thousands of connections, the fanout user room has them all: no
      # handshake rate limit and no per-user cap, which would (rightly) refuse them.
      DATABASE_URL=$db REALTIME_ADDR=127.0.0.1:$rt_port REALTIME_JWT_SECRET=$secret REALTIME_REFERENCE_SCHEMA=true \
        REALTIME_HANDSHAKE_RATE=0 REALTIME_MAX_CONNECTIONS_PER_USER=0 REALTIME_LOG_LEVEL=warn \
        REALTIME_SOURCE=$source REALTIME_WAL_SLOT=realtimed_bench \
        bin/realtimed serve >>"$logs" 2>&1 &
      server_pid=$!
      wait_http "http://127.0.0.1:$rt_port/readyz"
      ;;
    node)
      (cd "$peer" && DATABASE_URL=$db PORT=$node_port REALTIME_JWT_SECRET=$secret exec node server.js) >>"$logs" 2>&1 &
      server_pid=$!
      wait_http "http://127.0.0.1:$node_port/stats"
      ;;
  esac
}

stop() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop EXIT

run() { # server workload args…
  local server=$1 workload=$2 port=$rt_port
  shift 2
  [ "$server" = node ] && port=$node_port
  start "$server"
  log "$server: $workload $*"
  bin/realtime-bench -workload "$workload" -label "$server" -url "http://127.0.0.1:$port" -db "$db" \
    -secret "$secret" -pid "$server_pid" -migrate=false "$@" 2>>"$logs" | tail -n 1 | tee -a "$out"
  stop
}

wanted() { [[ $workloads == *" $1 "* ]]; }

servers=(realtimed)
[ -n "$peer" ] && servers=(realtimed node)
[ -n "${SERVERS:-}" ] && read -ra servers <<<"$SERVERS"
for s in "${servers[@]}"; do
  case $s in
    realtimed | realtimed-wal) ;;
    node) [ -n "$peer" ] || { log "SERVERS names node but there is no Node peer (PEER_DIR)"; exit 1; } ;;
    *) log "unknown server $s in SERVERS (realtimed, realtimed-wal, node)"; exit 2 ;;
  esac
done
for round in $(seq 1 "$rounds"); do
  order=("${servers[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=()
    for ((i = ${#servers[@]} - 1; i >= 0; i--)); do order+=("${servers[i]}"); done
  fi
  for s in "${order[@]}"; do wanted idle && run "$s" idle "${idle[@]}"; done
  for s in "${order[@]}"; do wanted burst && run "$s" fanout "${burst[@]}"; done
  for s in "${order[@]}"; do wanted paced && run "$s" fanout "${paced[@]}"; done
  for s in "${order[@]}"; do wanted personal && run "$s" personal "${personal[@]}"; done
done

log "results: $out (logs: $logs)"
has() { [[ " ${servers[*]} " == *" $1 "* ]]; }
if has realtimed && has node; then
  bin/realtime-bench report "$out"
fi
if has realtimed && has realtimed-wal; then
  echo
  bin/realtime-bench report -label realtimed-wal -baseline realtimed "$out"
fi
