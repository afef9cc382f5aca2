#!/usr/bin/env bash
# What realtime rules cost the application's writers, with pgbench: the same INSERT on an
# application table, 16 clients, durable settings, in interleaved rounds of one run, on a separate
# private cluster (REALTIME_PG_DIR, default .pg-bench-<fsync>/), wal_level=logical for every variant:
#   none      no rule
#   json      a rule that builds the event's JSON (envelope text, as realtime.publish sizes it) and discards it
#   notify    realtime.publish as shipped with the notify source (outbox row, position at commit
#             under the stream's lock, NOTIFY), a `realtimed serve` node (REALTIME_SOURCE=notify) listening
#   wal       realtime.publish with the wal source (one transactional logical message per event),
#             a `realtimed serve` node (REALTIME_SOURCE=wal) reading the slot and appending the
#             events to the stream, as in production
# Also selectable through VARIANTS:
#   emit      the json rule plus pg_logical_emit_message of its envelope, no slot (the WAL the
#             message adds, without realtime.publish and without decoding)
#   walraw    realtime.publish with the wal source, the slot consumed by PostgreSQL's pg_recvlogical
#             instead of a node (what the writers pay without the node's appending on the same machine)
# and the experiments of the offsets work (docs/delivery.md):
#   naive     a per-row trigger that calls pg_notify with the whole event (no outbox)
#   outbox    realtime.publish with the deferred position trigger disabled (outbox row only)
#   nolock    realtime.publish (notify), positions assigned at commit WITHOUT the commit-order lock
#   v0001     realtime.publish (notify) with migration 0001's realtime.on_commit
#   <name>    realtime.publish (notify) after the SQL of $EXPERIMENTS/<name>.sql
# The nodes run only during their variant's rounds; after each such round the script waits until
# the node has put every event into the stream (realtime.events holds as many positioned events
# as items were inserted) and reports how long that took after the writers stopped ("drain").
# Prints every round, the medians, each variant against none, and the ratios wal/json and
# wal/notify (issue 14's targets: >= 0.80 and >= 2.5). Heavy: run it alone (make bench-writers
# takes the machine's heavy lock).
#
#   scripts/offsets-bench.sh                     # durable (fsync, synchronous_commit, full_page_writes on)
#   ROUNDS=5 RUN_SECONDS=15 scripts/offsets-bench.sh
#   VARIANTS="none json notify" scripts/offsets-bench.sh
#   FSYNC=off scripts/offsets-bench.sh           # the test cluster's settings (all three off)
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-16}
SECONDS_PER_RUN=${RUN_SECONDS:-15}
ROUNDS=${ROUNDS:-5}
FSYNC=${FSYNC:-on}
read -r -a VARIANTS <<<"${VARIANTS:-none json notify wal}"

log() { echo "offsets-bench: $*" >&2; }

if [ "$FSYNC" = on ]; then
  opts="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
else
  opts="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
opts="$opts -c wal_level=logical -c max_wal_size=4GB -c checkpoint_timeout=30min"
export REALTIME_PG_DIR=${REALTIME_PG_DIR:-$PWD/.pg-bench-$FSYNC}
admin=$(REALTIME_PG_OPTS="$opts" scripts/pg.sh start)
# A cluster started earlier with other options keeps them until it restarts.
if [ "$(psql -At "$admin" -c "SHOW wal_level")" != logical ] || [ "$(psql -At "$admin" -c "SHOW fsync")" != "$FSYNC" ]; then
  admin=$(REALTIME_PG_OPTS="$opts" scripts/pg.sh restart)
fi
node_pid=""
cleanup() {
  stop_node
  scripts/pg.sh stop
  rm -f "${script:-}"
}
trap cleanup EXIT
bindir=$(scripts/pg.sh bindir)
pgbench="$bindir/pgbench"
logdir=${LOG_DIR:-$PWD/bench-results/offsets-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$logdir"

dburl() { local u; u=${admin%%\?*}; echo "${u%/postgres}/$1?sslmode=disable"; }

scripts/build.sh

app_sql=$(cat <<'SQL'
CREATE TABLE items (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    name       text NOT NULL,
    karma      integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION item_event(i items) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('itemId', i.id, 'familyId', i.family_id, 'userId', i.user_id,
                              'item', realtime.entity(to_jsonb(i)))
$$;
CREATE FUNCTION items_naive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('realtime', json_build_object('event', 'item.created',
        'users', ARRAY[NEW.user_id::text], 'payload', item_event(NEW))::text);
    RETURN NULL;
END $$;
-- The rule's own work: the event's JSON, built, sized against the limit as realtime.publish
-- does, and discarded.
CREATE FUNCTION items_json() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb := item_event(NEW);
    envelope text;
BEGIN
    envelope := '{"event":' || to_json('item.created'::text)::text || ',"users":' || to_json(ARRAY[NEW.user_id::text])::text ||
                ',"rooms":' || to_json('{}'::text[])::text || ',"payload":' || payload::text || '}';
    IF octet_length(payload::text) > (SELECT value::bigint FROM realtime.settings WHERE key = 'max_event_bytes') THEN
        RAISE EXCEPTION 'too big';
    END IF;
    PERFORM octet_length(envelope);
    RETURN NULL;
END $$;
CREATE FUNCTION items_emit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload jsonb := item_event(NEW);
BEGIN
    PERFORM pg_logical_emit_message(true, 'realtime', '{"event":' || to_json('item.created'::text)::text || ',"users":' ||
        to_json(ARRAY[NEW.user_id::text])::text || ',"rooms":' || to_json('{}'::text[])::text || ',"payload":' || payload::text || '}');
    RETURN NULL;
END $$;
CREATE FUNCTION items_publish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM realtime.publish('item.created', ARRAY[NEW.user_id::text], '{}', item_event(NEW));
    RETURN NULL;
END $$;
SQL
)

# source_of names the event source a variant's realtime.publish and node use ("" : no node).
source_of() {
  case $1 in
    none | json | naive | emit) echo "" ;;
    wal | walraw) echo wal ;;
    *) echo notify ;;
  esac
}

rule() { psql -q -v ON_ERROR_STOP=1 "$(dburl "$1")" -c "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION $2()" >/dev/null; }

setup() { # variant
  local v=$1 db="bench_$1"
  psql -q "$admin" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '$db'" \
    -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  DATABASE_URL=$(dburl "$db") bin/realtimed migrate up >/dev/null
  psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" -c "$app_sql" >/dev/null
  case $v in
    none) ;;
    json) rule "$db" items_json ;;
    emit) rule "$db" items_emit ;;
    naive) rule "$db" items_naive ;;
    notify | publish | wal | walraw) rule "$db" items_publish ;;
    outbox) rule "$db" items_publish
      psql -q "$(dburl "$db")" -c "ALTER TABLE realtime.events DISABLE TRIGGER events_on_commit" ;;
    nolock)
      rule "$db" items_publish
      local def; def=$(psql -At "$(dburl "$db")" -c "SELECT pg_get_functiondef('realtime.on_commit'::regproc)")
      grep -q "pg_advisory_xact_lock" <<<"$def" || { log "on_commit has no advisory lock to remove"; exit 1; }
      psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" >/dev/null <<<"${def//PERFORM pg_advisory_xact_lock(/PERFORM 0, (}" ;;
    v0001) # the down migration of 0010 restores 0001's on_commit
      rule "$db" items_publish
      sed -n '/CREATE OR REPLACE FUNCTION realtime.on_commit/,$p' migrations/realtime/0010_delivery.down.sql |
        psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" >/dev/null ;;
    *) # an experiment: realtime.publish after the SQL of $EXPERIMENTS/<variant>.sql
      rule "$db" items_publish
      psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" -f "${EXPERIMENTS:?unknown variant $v}/$v.sql" >/dev/null ;;
  esac
  # The node's first start puts the database in its source's mode (wal: the slot, the mode
  # realtime.publish follows); the check below proves the rule then takes the intended path.
  local src; src=$(source_of "$v")
  if [ -n "$src" ]; then
    start_node "$v" "$src"
    psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" -c "INSERT INTO items (family_id, user_id, name) VALUES (gen_random_uuid(), gen_random_uuid(), 'probe')" >/dev/null
    wait_drained "$db" 30 >/dev/null || { log "$v: the probe event never reached the stream (see $logdir/node-$v.log)"; exit 1; }
    stop_node
    if [ "$src" = wal ] && [ "$(psql -At "$(dburl "$db")" -c "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()")" = 0 ]; then
      log "wal: no replication slot on $db after the node ran"; exit 1
    fi
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_node() { # variant source
  local port; port=$(free_port)
  DATABASE_URL=$(dburl "bench_$1") REALTIME_SOURCE=$2 REALTIME_WAL_SLOT=bench_$1 REALTIME_ADDR=127.0.0.1:$port REALTIME_JWT_SECRET=offsets-bench-secret-offsets-bench-secret REALTIME_APPLY_TRIGGERS=false \
    REALTIME_LOG_LEVEL=info bin/realtimed serve >>"$logdir/node-$1.log" 2>&1 &
  node_pid=$!
  local i
  for i in $(seq 1 300); do
    if curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; then return 0; fi
    kill -0 "$node_pid" 2>/dev/null || { log "$1: realtimed exited at start (see $logdir/node-$1.log)"; tail -5 "$logdir/node-$1.log" >&2; exit 1; }
    sleep 0.1
  done
  log "$1: realtimed not ready in 30s (see $logdir/node-$1.log)"; exit 1
}

# start_recvlogical consumes the variant's slot with pg_recvlogical (pgoutput, messages on).
start_recvlogical() { # variant
  "$bindir/pg_recvlogical" -d "$(dburl "bench_$1")" --slot "bench_$1" --start -f /dev/null \
    -o proto_version=1 -o publication_names=realtime_messages -o messages=true 2>>"$logdir/recvlogical.log" &
  node_pid=$!
}

stop_node() {
  [ -n "$node_pid" ] || return 0
  kill -TERM "$node_pid" 2>/dev/null || true
  wait "$node_pid" 2>/dev/null || true
  node_pid=""
}

# wait_drained waits until every inserted item's event is in the stream with a position; prints
# the seconds it took.
wait_drained() { # db timeout_seconds
  local start; start=$(date +%s.%N)
  local deadline=$(($(date +%s) + $2))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if [ "$(psql -At "$(dburl "$1")" -c "SELECT (SELECT count(*) FROM realtime.events WHERE pos IS NOT NULL) >= (SELECT count(*) FROM items)")" = t ]; then
      awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'
      return 0
    fi
    sleep 0.2
  done
  return 1
}

script=$(mktemp)
cat >"$script" <<'EOF'
\set n random(1, 1000000)
INSERT INTO items (family_id, user_id, name, karma)
VALUES ('6f1c2a9e-0000-4000-8000-000000000001', '6f1c2a9e-0000-4000-8000-000000000002', 'Take out the recycling ' || :n, :n % 10);
EOF

for v in "${VARIANTS[@]}"; do setup "$v"; done
log "cluster $(psql -At "$admin" -c "SELECT version()" | cut -d' ' -f1-2), fsync=$FSYNC, wal_level=$(psql -At "$admin" -c "SHOW wal_level"), $CLIENTS clients, ${SECONDS_PER_RUN}s x $ROUNDS rounds, $(nproc) CPUs, logs in $logdir"

declare -A results drains
for round in $(seq 1 "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    db="bench_$v"
    psql -q "$(dburl "$db")" -c "TRUNCATE items" -c "TRUNCATE realtime.events" -c "CHECKPOINT" >/dev/null
    src=$(source_of "$v")
    # The WAL is the cluster's: the other variants' rounds since this slot was last read are
    # still to be decoded (in production the slot is read as the WAL is written). Decode it
    # before the round starts, so that every round begins with its consumer caught up. Nothing
    # of this database is in it: the previous round's events are all in the stream.
    if [ "$(source_of "$v")" = wal ]; then
      psql -q "$(dburl "$db")" -c "SELECT pg_replication_slot_advance('bench_$v', pg_current_wal_lsn())" >/dev/null
    fi
    if [ "$v" = walraw ]; then start_recvlogical "$v"; src=""; elif [ -n "$src" ]; then start_node "$v" "$src"; fi
    tps=$("$pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -f "$script" "$(dburl "$db")" 2>>"$logdir/pgbench.log" |
      awk '/^tps = / { printf "%.0f", $3 }')
    [ -n "$tps" ] || { log "round $round $v: pgbench failed (see $logdir/pgbench.log)"; exit 1; }
    drain=""
    if [ -n "$src" ]; then
      drain=$(wait_drained "$db" 300) || { log "round $round $v: the node did not put every event into the stream within 300s"; exit 1; }
      stop_node
      drains[$v]="${drains[$v]:-} $drain"
    fi
    [ "$v" != walraw ] || stop_node
    results[$v]="${results[$v]:-} $tps"
    log "round $round $v: $tps tps${drain:+, stream complete ${drain}s after the writers stopped}"
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
declare -A med
for v in "${VARIANTS[@]}"; do med[$v]=$(echo "${results[$v]}" | median); done
base=${med[none]:-}
printf '\n%-8s %8s %8s  %-40s %s\n' variant "tps" "vs none" "rounds (tps)" "drain after writers stopped (s)"
for v in "${VARIANTS[@]}"; do
  printf '%-8s %8s %8s  %-40s %s\n' "$v" "${med[$v]}" "${base:+$(ratio "${med[$v]}" "$base")}" "$(echo ${results[$v]})" "$(echo ${drains[$v]:-})"
done
# per_round prints the ratio a/b of each round (the variants of a round ran minutes apart at most).
per_round() { paste -d' ' <(echo ${results[$1]} | tr ' ' '\n') <(echo ${results[$2]} | tr ' ' '\n') | awk '{ printf "%.2f ", $1 / $2 }'; }
target() { # a b target
  echo "$1/$2 $(ratio "${med[$1]}" "${med[$2]}") (ratio of the medians; target >= $3); per round: $(per_round "$1" "$2")(median $(per_round "$1" "$2" | median))"
}
if [ -n "${med[wal]:-}" ]; then
  echo
  [ -z "${med[json]:-}" ] || target wal json 0.80
  [ -z "${med[notify]:-}" ] || target wal notify 2.5
fi
