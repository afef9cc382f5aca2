#!/usr/bin/env bash
# A private PostgreSQL for `make run` and `make test`, in .pg/ at the top of the repository,
# listening on 127.0.0.1 on a free port (trust auth, local only). It uses the system's
# PostgreSQL binaries and, when they are missing and we are root, installs Debian's.
# PostgreSQL refuses to run as root: as root it runs as the 'postgres' user, who must reach the
# folder. When it cannot (a checkout in root's home, mode 0700), the cluster lives in
# /var/tmp/realtimed-pg/<name>-<hash of the folder's path> instead, .pg links there, and the
# script says so.
#
#   scripts/pg.sh start            # start it if needed; prints the admin URL (database postgres)
#   scripts/pg.sh stop
#   scripts/pg.sh restart [MODE]   # stop (pg_ctl -m MODE: fast or immediate) and start on the same port
#   scripts/pg.sh url              # prints the admin URL of the running instance
#   scripts/pg.sh dir              # prints the folder the cluster lives in
#   scripts/pg.sh destroy          # stop it and delete its folder (make clean)
#
# Environment:
#   REALTIME_PG_DIR    another folder for a separate cluster (tests that restart PostgreSQL, measurements)
#   REALTIME_PG_OPTS   extra server options, after the defaults (e.g. "-c fsync=on -c synchronous_commit=on");
#                      remembered in the folder for later starts and restarts
# The defaults trade durability for test speed: fsync, synchronous_commit and full_page_writes off.
# wal_level=logical (with room for replication slots and walsenders) so that REALTIME_SOURCE=wal
# works against it; realtimed's default source (notify) does not need it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="${REALTIME_PG_DIR:-$root/.pg}"
# A link left by an earlier start (see place) leads to where the cluster is.
if [ -L "$dir" ]; then dir=$(readlink -f "$dir"); fi
data="$dir/data"

log() { echo "pg.sh: $*" >&2; }

ensure_postgres_user() {
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

# place makes sure the user PostgreSQL runs as can reach the cluster's folder: as root, when
# 'postgres' cannot enter it (a parent folder is private), the cluster moves to a folder of
# its own under /var/tmp, and the requested path becomes a link to it.
place() {
  [ "$(id -u)" -eq 0 ] || return 0
  local want="${REALTIME_PG_DIR:-$root/.pg}"
  [ -L "$want" ] && return 0
  mkdir -p "$want"
  ensure_postgres_user
  if runuser -u postgres -- test -x "$want" 2>/dev/null; then return 0; fi
  local name alt
  name=$(basename "$(dirname "$want")")
  alt="/var/tmp/realtimed-pg/${name}-$(printf '%s' "$want" | sha256sum | cut -c1-12)"
  if [ -n "$(ls -A "$want")" ]; then
    log "the postgres user cannot reach $want (a parent folder is private) and it is not empty: remove it, or set REALTIME_PG_DIR to a folder postgres can reach"
    exit 1
  fi
  mkdir -p "$alt"
  chmod 755 /var/tmp/realtimed-pg
  rmdir "$want" && ln -s "$alt" "$want"
  dir="$alt"
  data="$dir/data"
  log "the postgres user cannot reach $want (a parent folder is private): the cluster lives in $dir ($want links there)"
}

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
    ensure_postgres_user
    chown -R postgres: "$dir"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; }

# free_port starts at a random port of 25432-25931 (below Linux's ephemeral ports, which client
# connections take), so that clusters started at the same time (parallel tests) rarely pick the
# same one; start retries when the port turns out to be taken.
free_port() {
  local i port offset=$((RANDOM % 500))
  for i in $(seq 0 499); do
    port=$((25432 + (offset + i) % 500))
    if port_free "$port"; then echo "$port"; return 0; fi
  done
  log "no free port in 25432-25931"; exit 1
}

url() { echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"; }

running() { [ -f "$dir/port" ] && [ -f "$data/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; }

# without_inherited_fds runs "$@" with only stdin, stdout and stderr open. PostgreSQL outlives
# this script: it must not keep a descriptor the script inherited, such as the lock of a
# `flock` around `make test`, which would then stay held for as long as the server runs.
without_inherited_fds() {
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      case $fd in 0 | 1 | 2) ;; *) eval "exec $fd>&-" 2>/dev/null || true ;; esac
    done
    "$@"
  )
}

start() {
  ensure_binaries
  place
  mkdir -p "$dir"
  if running; then
    # A cluster started before wal_level=logical was a default is restarted once to get it.
    if [ "$("$bindir/psql" -XAt "$(url)" -c "SHOW wal_level" 2>/dev/null)" = replica ] && ! grep -q wal_level "$dir/opts" 2>/dev/null; then
      log "restarting the cluster for wal_level=logical"
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    else
      url; return 0
    fi
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising a private cluster in $data"
    mkdir -p "$data"
    as_owner "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  # Extra options are remembered for restarts.
  if [ -n "${REALTIME_PG_OPTS:-}" ]; then echo "$REALTIME_PG_OPTS" >"$dir/opts"; fi
  local opts=""; [ -f "$dir/opts" ] && opts=$(cat "$dir/opts")
  local port attempt
  for attempt in 1 2 3 4 5; do
    # Keep the port of a previous start when it is free (restart), else pick a free one.
    if [ -f "$dir/port" ] && port_free "$(cat "$dir/port")"; then port=$(cat "$dir/port"); else port=$(free_port); fi
    echo "$port" >"$dir/port"
    if without_inherited_fds as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 $opts" >/dev/null; then
      log "private PostgreSQL on 127.0.0.1:$port (data in $data)"
      url
      return 0
    fi
    if tail -n 5 "$dir/postgres.log" 2>/dev/null | grep -q "Address already in use"; then
      log "port $port is taken; trying another"; rm -f "$dir/port"; continue
    fi
    break
  done
  log "postgres failed to start; see $dir/postgres.log"; tail -n 20 "$dir/postgres.log" >&2; exit 1
}

stop() {
  bindir=$(find_bindir) || return 0
  [ -f "$data/PG_VERSION" ] || return 0
  as_owner "$bindir/pg_ctl" -D "$data" -m "${1:-fast}" -w stop >/dev/null 2>&1 || true
}

destroy() {
  stop immediate
  local want="${REALTIME_PG_DIR:-$root/.pg}"
  rm -rf "$dir"
  rm -rf "$want"
}

bindir=""
case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop "${2:-fast}"; start ;;
  url) bindir=$(find_bindir) && running && url ;;
  bindir) ensure_binaries; echo "$bindir" ;;
  dir) echo "$dir" ;;
  destroy) destroy ;;
  *) echo "usage: $0 start|stop|restart [fast|immediate]|url|bindir|dir|destroy" >&2; exit 2 ;;
esac
