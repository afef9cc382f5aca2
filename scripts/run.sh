#!/usr/bin/env bash
# `make run`: serve realtimed on :3001 for development.
# Without DATABASE_URL: a private PostgreSQL in .pg/, the reference schema, the demo family,
# and tokens to connect with. With DATABASE_URL: migrate, apply the rules and serve.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null 2>&1 || { echo "run.sh: Go is required (https://go.dev/dl/)" >&2; exit 1; }
scripts/build.sh

demo=false
if [ -z "${DATABASE_URL:-}" ]; then
  admin=$(scripts/pg.sh start)
  psql_bin="$(scripts/pg.sh bindir)/psql"
  "$psql_bin" "$admin" -qtAc "SELECT 1 FROM pg_database WHERE datname = 'realtimed_demo'" | grep -q 1 ||
    "$psql_bin" "$admin" -qc "CREATE DATABASE realtimed_demo"
  export DATABASE_URL="${admin%/postgres*}/realtimed_demo?sslmode=disable"
  export REALTIME_REFERENCE_SCHEMA=true
  export REALTIME_JWT_SECRET="${REALTIME_JWT_SECRET:-dev-secret-change-me}"
  export REALTIME_TRIGGERS_DIR="${REALTIME_TRIGGERS_DIR:-$PWD/sql/triggers}"
  export REALTIME_DEMO=true
  demo=true
fi

bin/realtimed migrate up >/dev/null
bin/realtimed triggers apply

addr="${REALTIME_ADDR:-:3001}"
port="${addr##*:}"
if [ "$demo" = true ]; then
  family=$(bin/realtimed demo)
  family_id=$(echo "$family" | sed -n 's/.*"familyId": "\(.*\)".*/\1/p')
  chat_id=$(echo "$family" | sed -n 's/.*"chatId": "\(.*\)".*/\1/p')
  echo
  echo "Demo family $family_id, chat $chat_id. Tokens (valid 24h):"
  first=""
  while read -r id name role; do
    [ -n "$first" ] || first=$id
    printf '  %-6s %-7s user %s\n    %s\n' "$name" "($role)" "$id" "$(bin/realtimed token --user "$id" --ttl 24h)"
  done < <(echo "$family" | tr -d '\n' | grep -o '{ *"id": "[^"]*", *"name": "[^"]*", *"role": "[^"]*" *}' |
           sed 's/.*"id": "\([^"]*\)".*"name": "\([^"]*\)".*"role": "\([^"]*\)".*/\1 \2 \3/')
  echo
  echo "Connect (socket.io-client v4):  io('http://localhost:$port', { auth: { token: '<token>' } })"
  echo "Make an event arrive for the first user (task.created):"
  echo "  psql '$DATABASE_URL' -c \"INSERT INTO tasks (family_id, name, assignment_type, assigned_to) VALUES ('$family_id', 'Take out the trash', 'member', '$first')\""
  echo "Events and their payloads: docs/events.md. Edit or add a rule in sql/triggers/ (docs/rules.md),"
  echo "then apply it to the running server:"
  echo "  DATABASE_URL='$DATABASE_URL' REALTIME_TRIGGERS_DIR='$REALTIME_TRIGGERS_DIR' bin/realtimed triggers apply"
  echo
  echo "Console: http://localhost:$port/  (pick a demo member, then \"Create a task for me\")"
else
  echo "Console: http://localhost:$port/  (paste a token)"
fi
if [ "${REALTIME_ADMIN_UI:-false}" = true ]; then
  ui_addr="${REALTIME_INTERNAL_ADDR:-$addr}"
  echo "Socket.IO Admin UI: http://localhost:${ui_addr##*:}/admin-ui/  (Server URL http://localhost:${ui_addr##*:}, username ${REALTIME_ADMIN_UI_USERNAME:-admin})"
fi
# The event stream's source: notify unless REALTIME_SOURCE=wal (the private PostgreSQL runs with
# wal_level=logical for it; docs/delivery.md, "The wal source").
export REALTIME_SOURCE="${REALTIME_SOURCE:-notify}"
echo "Event source: $REALTIME_SOURCE (REALTIME_SOURCE=wal for the logical-decoding source)"
echo
exec bin/realtimed serve
