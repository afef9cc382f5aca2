#!/usr/bin/env bash
# How fast one node drains a backlog of the wal source into the stream: EVENTS small events
# (default 500,000, PER_TX to a transaction, one random user of 5,000 each, a payload of about
# 100 bytes) are committed through realtime.publish while no realtimed node runs, so they wait in
# the replication slot; then one `realtimed serve` node (REALTIME_SOURCE=wal) starts and decodes
# and appends them to realtime.events. Each round reports events/s from the node's start until
# the last event is in the stream (including the start and the slot's connection), and from its
# first appended event (the steady rate), read from the node's realtimed_wal_events_appended_total;
# then checks the stream: exactly EVENTS new events, positions in commit order. Prints the
# medians. On a separate private cluster (REALTIME_PG_DIR, default .pg-bench-drain/), durable
# settings (fsync=on, synchronous_commit=on) for the node's appends; the backlog is loaded with
# synchronous_commit=off (it is not what is measured). Heavy: make bench-drain takes the
# machine's heavy-run lock.
#
#   scripts/drain-bench.sh
#   EVENTS=100000 PER_TX=1 ROUNDS=1 scripts/drain-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-500000}
PER_TX=${PER_TX:-10}
ROUNDS=${ROUNDS:-3}
LOADERS=${LOADERS:-8}

log() { echo "drain-bench: $*" >&2; }

opts="-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c wal_level=logical -c max_wal_size=4GB -c checkpoint_timeout=30min"
export REALTIME_PG_DIR=${REALTIME_PG_DIR:-$PWD/.pg-bench-drain}
admin=$(REALTIME_PG_OPTS="$opts" scripts/pg.sh start)
if [ "$(psql -At "$admin" -c "SHOW wal_level")" != logical ] || [ "$(psql -At "$admin" -c "SHOW fsync")" != on ]; then
  admin=$(REALTIME_PG_OPTS="$opts" scripts/pg.sh restart)
fi
node_pid=""
script=$(mktemp)
cleanup() {
  stop_node
  scripts/pg.sh stop
  rm -f "$script"
}
trap cleanup EXIT
pgbench="$(scripts/pg.sh bindir)/pgbench"
logdir=${LOG_DIR:-$PWD/bench-results/drain-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$logdir"
u=${admin%%\?*}
db="${u%/postgres}/bench_drain?sslmode=disable"

scripts/build.sh

port=""
start_node() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  DATABASE_URL=$db REALTIME_SOURCE=wal REALTIME_WAL_SLOT=bench_drain REALTIME_ADDR=127.0.0.1:$port REALTIME_JWT_SECRET=drain-bench-secret-drain-bench-secret \
    REALTIME_APPLY_TRIGGERS=false REALTIME_LOG_LEVEL=info bin/realtimed serve >>"$logdir/node.log" 2>&1 &
  node_pid=$!
}

stop_node() {
  [ -n "$node_pid" ] || return 0
  kill -TERM "$node_pid" 2>/dev/null || true
  wait "$node_pid" 2>/dev/null || true
  node_pid=""
}

# appended prints the node's realtimed_wal_events_appended_total (empty while it does not answer).
appended() {
  curl -fs "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^realtimed_wal_events_appended_total / { printf "%d", $2 }' || true
}

now() { date +%s.%N; }

# Setup: a database whose slot exists and whose realtime.publish is in wal mode (a node's first start).
psql -q "$admin" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = 'bench_drain'" \
  -c "DROP DATABASE IF EXISTS bench_drain" -c "CREATE DATABASE bench_drain" >/dev/null
DATABASE_URL=$db bin/realtimed migrate up >/dev/null
start_node
ready() { curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; }
for _ in $(seq 1 300); do ready && break; sleep 0.1; done
ready || { log "the node did not start (see $logdir/node.log)"; tail -5 "$logdir/node.log" >&2; exit 1; }
stop_node
[ "$(psql -At "$db" -c "SELECT value FROM realtime.settings WHERE key = 'source'")" = wal ] || { log "the database is not in wal mode after a node ran"; exit 1; }
[ "$(psql -At "$db" -c "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()")" = 1 ] || { log "no replication slot"; exit 1; }

cat >"$script" <<EOF
BEGIN;
SELECT count(realtime.publish('task.created', ARRAY['user-' || (random() * 5000)::int], '{}',
    jsonb_build_object('taskId', g, 'title', 'Take out the recycling before the truck comes', 'points', g % 10)))
  FROM generate_series(1, $PER_TX) g;
COMMIT;
EOF
txs=$((EVENTS / PER_TX / LOADERS))
[ $((txs * PER_TX * LOADERS)) -eq "$EVENTS" ] || { log "EVENTS must be a multiple of PER_TX x LOADERS ($PER_TX x $LOADERS)"; exit 1; }
log "cluster $(psql -At "$admin" -c "SELECT version()" | cut -d' ' -f1-2), $EVENTS events in transactions of $PER_TX, $ROUNDS rounds, $(nproc) CPUs, logs in $logdir"

totals="" steadies=""
for round in $(seq 1 "$ROUNDS"); do
  psql -q "$db" -c "TRUNCATE realtime.events" -c "CHECKPOINT" >/dev/null
  t=$(now)
  PGOPTIONS="-c synchronous_commit=off" "$pgbench" -n -c "$LOADERS" -j 2 -t "$txs" -f "$script" "$db" >>"$logdir/pgbench.log" 2>&1 ||
    { log "loading failed (see $logdir/pgbench.log)"; exit 1; }
  backlog=$(psql -At "$db" -c "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)) FROM pg_replication_slots WHERE database = current_database()")
  log "round $round: $EVENTS events committed in $(awk -v s="$t" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }')s, $backlog of WAL behind the slot"
  psql -q "$db" -c "CHECKPOINT" >/dev/null
  start=$(now)
  start_node
  first="" n=0
  deadline=$(($(date +%s) + 600))
  while :; do
    n=$(appended)
    n=${n:-0}
    if [ -z "$first" ] && [ "$n" -gt 0 ]; then first=$(now); firstn=$n; fi
    [ "$n" -ge "$EVENTS" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || { log "round $round: only $n of $EVENTS events appended in 600s"; exit 1; }
    kill -0 "$node_pid" 2>/dev/null || { log "the node exited (see $logdir/node.log)"; exit 1; }
    sleep 0.05
  done
  end=$(now)
  # Before the node stops, the slot's position passes the WAL of its own appends (decoded and
  # passed over): the next round starts with only its own backlog.
  for _ in $(seq 1 100); do
    [ "$(psql -At "$db" -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) < 1048576 FROM pg_replication_slots WHERE database = current_database()")" = t ] && break
    sleep 0.2
  done
  stop_node
  total=$(awk -v n="$EVENTS" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')
  steady=$(awk -v n="$((EVENTS - firstn))" -v s="$first" -v e="$end" 'BEGIN { printf "%.0f", (e > s) ? n / (e - s) : 0 }')
  check=$(psql -At "$db" -c "SELECT count(*), count(DISTINCT pos), count(*) FILTER (WHERE bad) FROM (
      SELECT pos, (commit_lsn, commit_index) < lag((commit_lsn, commit_index)) OVER (ORDER BY pos) AS bad FROM realtime.events) x")
  [ "$check" = "$EVENTS|$EVENTS|0" ] || { log "round $round: the stream holds count|distinct positions|out of commit order = $check, want $EVENTS|$EVENTS|0"; exit 1; }
  log "round $round: drained in $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')s: $total events/s from the node's start, $steady events/s from its first append; stream checked ($check)"
  totals="$totals $total" steadies="$steadies $steady"
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
echo "drain of $EVENTS events (transactions of $PER_TX), $ROUNDS rounds"
echo "events/s from the node's start:      median $(echo "$totals" | median)  (rounds:$totals)"
echo "events/s from the first append:      median $(echo "$steadies" | median)  (rounds:$steadies)   target >= 50000"
