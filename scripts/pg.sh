#!/usr/bin/env bash
# A private PostgreSQL for `make run` and `make test`, in .pg/ at the top of the repository,
# listening on 127.0.0.1 on a free port (trust auth, local only). It uses the system's
# PostgreSQL binaries and, when they are missing and we are root, installs Debian's.
#
#   scripts/pg.sh start   # start it if needed; prints the admin URL (database postgres)
#   scripts/pg.sh stop
#   scripts/pg.sh url     # prints the admin URL of the running instance
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.pg"
data="$dir/data"

log() { echo "pg.sh: $*" >&2; }

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return 0; }
  return 1
}

ensure_binaries() {
  if bindir=$(find_bindir); then return 0; fi
  if [ "$(id -u)" -ne 0 ]; then
    log "PostgreSQL server binaries not found and not root: install the 'postgresql' package"
    exit 1
  fi
  log "installing Debian's postgresql (server binaries not found)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  bindir=$(find_bindir) || { log "postgresql installed but pg_ctl not found"; exit 1; }
}

# PostgreSQL refuses to run as root: run its tools as the 'postgres' user then.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    chown -R postgres: "$dir"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local port
  for port in $(seq 55432 55532); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then echo "$port"; return 0; fi
  done
  log "no free port in 55432-55532"; exit 1
}

url() { echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"; }

running() { [ -f "$dir/port" ] && [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
  ensure_binaries
  mkdir -p "$dir"
  if running; then url; return 0; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising a private cluster in $data"
    mkdir -p "$data"
    as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  free_port >"$dir/port"
  local port; port=$(cat "$dir/port")
  as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null \
    || { log "postgres failed to start; see $dir/postgres.log"; tail -n 20 "$dir/postgres.log" >&2; exit 1; }
  log "private PostgreSQL on 127.0.0.1:$port (data in $data)"
  url
}

stop() {
  bindir=$(find_bindir) || exit 0
  [ -f "$data/PG_VERSION" ] || exit 0
  as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

bindir=""
case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) bindir=$(find_bindir) && running && url ;;
  bindir) ensure_binaries; echo "$bindir" ;;
  *) echo "usage: $0 start|stop|url|bindir" >&2; exit 2 ;;
esac
