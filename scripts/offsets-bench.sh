#!/usr/bin/env bash
# Measures what the outbox and its commit-ordered offsets cost writers, with pgbench: the same
# INSERT on an application table with
#   none      no trigger
#   naive     a per-row trigger that calls pg_notify with the whole event (no outbox)
#   outbox    a trigger that calls realtime.publish with the deferred position trigger disabled
#             (outbox row only: no position, no NOTIFY)
#   nolock    realtime.publish, positions assigned at commit WITHOUT the commit-order lock
#   publish   realtime.publish as shipped: outbox row, position under the commit-order lock, NOTIFY
#   v0001     realtime.publish with migration 0001's realtime.on_commit (its envelope built while
#             holding the lock; 0010 builds it before)
# in ROUNDS interleaved rounds of SECONDS each, CLIENTS clients, all in one run, on a separate
# private cluster in .pg-bench/ (durable settings by default: fsync and synchronous_commit on).
# A session LISTENs on the channels and drains them while the writers run.
#
#   scripts/offsets-bench.sh                 # durable cluster (fsync=on, synchronous_commit=on)
#   FSYNC=off scripts/offsets-bench.sh       # the test cluster's settings (fsync=off, synchronous_commit=off)
#   CLIENTS=16 RUN_SECONDS=15 ROUNDS=3 scripts/offsets-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-16}
SECONDS_PER_RUN=${RUN_SECONDS:-15}
ROUNDS=${ROUNDS:-3}
FSYNC=${FSYNC:-on}
read -r -a VARIANTS <<<"${VARIANTS:-none naive outbox nolock publish v0001}"

log() { echo "offsets-bench: $*" >&2; }

if [ "$FSYNC" = on ]; then
  opts="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
else
  opts="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
export REALTIME_PG_DIR="$PWD/.pg-bench-$FSYNC"
admin=$(REALTIME_PG_OPTS="$opts -c max_wal_size=4GB -c checkpoint_timeout=30min" scripts/pg.sh start)
trap 'scripts/pg.sh stop' EXIT
bindir=$(scripts/pg.sh bindir)
pgbench="$bindir/pgbench"

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
CREATE FUNCTION items_publish() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM realtime.publish('item.created', ARRAY[NEW.user_id::text], '{}', item_event(NEW));
    RETURN NULL;
END $$;
SQL
)

setup() { # variant
  local v=$1 db="bench_$1"
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  DATABASE_URL=$(dburl "$db") bin/realtimed migrate up >/dev/null
  psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" -c "$app_sql" >/dev/null
  case $v in
    none) ;;
    naive) psql -q "$(dburl "$db")" -c "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_naive()" ;;
    outbox) psql -q "$(dburl "$db")" -c "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_publish()" \
                 -c "ALTER TABLE realtime.events DISABLE TRIGGER events_on_commit" ;;
    nolock)
      psql -q "$(dburl "$db")" -c "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_publish()"
      local def; def=$(psql -At "$(dburl "$db")" -c "SELECT pg_get_functiondef('realtime.on_commit'::regproc)")
      grep -q "pg_advisory_xact_lock" <<<"$def" || { log "on_commit has no advisory lock to remove"; exit 1; }
      psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" >/dev/null <<<"${def//PERFORM pg_advisory_xact_lock(/PERFORM 0, (}" ;;
    publish) psql -q "$(dburl "$db")" -c "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_publish()" ;;
    v0001) # the down migration of 0010 restores 0001's on_commit
      psql -q "$(dburl "$db")" -c "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_publish()"
      sed -n '/CREATE OR REPLACE FUNCTION realtime.on_commit/,$p' migrations/realtime/0010_delivery.down.sql |
        psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" >/dev/null ;;
    *) # an experiment: realtime.publish after the SQL of $EXPERIMENTS/<variant>.sql
      psql -q -v ON_ERROR_STOP=1 "$(dburl "$db")" -c "CREATE TRIGGER t AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION items_publish()" \
        -f "${EXPERIMENTS:?unknown variant $v}/$v.sql" >/dev/null ;;
  esac
}

script=$(mktemp)
cat >"$script" <<'EOF'
\set n random(1, 1000000)
INSERT INTO items (family_id, user_id, name, karma)
VALUES ('6f1c2a9e-0000-4000-8000-000000000001', '6f1c2a9e-0000-4000-8000-000000000002', 'Take out the recycling ' || :n, :n % 10);
EOF

# drain LISTENs on the stream's channel and reads notifications as they come, as realtimed does.
drain() { # db
  { echo "LISTEN realtime;"; while true; do echo "SELECT 1;"; sleep 0.02; done; } | psql -q "$(dburl "$1")" >/dev/null 2>&1 &
  drainer=$!
}

for v in "${VARIANTS[@]}"; do setup "$v"; done
log "cluster $(psql -At "$admin" -c "SELECT version()" | cut -d' ' -f1-2), fsync=$FSYNC, $CLIENTS clients, ${SECONDS_PER_RUN}s x $ROUNDS rounds, $(nproc) CPUs"

declare -A results
for round in $(seq 1 "$ROUNDS"); do
  for v in "${VARIANTS[@]}"; do
    db="bench_$v"
    psql -q "$(dburl "$db")" -c "TRUNCATE items" -c "TRUNCATE realtime.events" -c "CHECKPOINT" >/dev/null
    if [ "$(psql -At "$(dburl "$db")" -c "SELECT to_regclass('realtime.positions') IS NOT NULL")" = t ]; then
      psql -q "$(dburl "$db")" -c "TRUNCATE realtime.positions" >/dev/null
    fi
    drain "$db"
    tps=$("$pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -f "$script" "$(dburl "$db")" 2>/dev/null |
      awk '/^tps = / { printf "%.0f", $3 }')
    kill "$drainer" 2>/dev/null || true
    wait "$drainer" 2>/dev/null || true
    results[$v]="${results[$v]:-} $tps"
    log "round $round $v: $tps tps"
  done
done
rm -f "$script"

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
base=$(echo "${results[none]}" | median)
printf '\n%-8s %10s %8s   %s\n' variant "tps" "vs none" "rounds"
for v in "${VARIANTS[@]}"; do
  m=$(echo "${results[$v]}" | median)
  printf '%-8s %10s %7.0f%%  %s\n' "$v" "$m" "$(awk -v m="$m" -v b="$base" 'BEGIN { print 100 * m / b }')" "${results[$v]}"
done
