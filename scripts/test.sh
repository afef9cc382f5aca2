#!/usr/bin/env bash
# Everything CI runs: formatting, vet, Go tests with the race detector against a private
# PostgreSQL, then the end-to-end tests with the official socket.io-client, and the chaos tests
# among them (concurrency, failover, PostgreSQL restarts, payloads, a 10,000-event transaction,
# recovery, revocation) once more with the wal event source.
#   scripts/test.sh [all|go|ts|e2e|storm|fleet]
# storm runs only the reconnect-storm tests (e2e/tests/storm.test.mjs) with STORM_CLIENTS clients
# (make test-storm: 5,000; make test runs them with a few hundred). fleet runs only the fleet-mode
# tests (e2e/tests/fleet*.test.mjs) with FLEET_CLIENTS clients (make test-fleet: 6,000).
set -euo pipefail
cd "$(dirname "$0")/.."

what=${1:-all}
step() { echo; echo "==> $*"; }

command -v go >/dev/null 2>&1 || { echo "test.sh: Go is required (https://go.dev/dl/)" >&2; exit 1; }

step "PostgreSQL"
REALTIME_TEST_DATABASE_URL=$(scripts/pg.sh start)
export REALTIME_TEST_DATABASE_URL
echo "using $REALTIME_TEST_DATABASE_URL"

if [ "$what" = all ] || [ "$what" = go ]; then
  step "gofmt and go vet"
  unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
  if [ -n "$unformatted" ]; then echo "gofmt needed: $unformatted" >&2; exit 1; fi
  go vet ./...

  step "go test -race"
  go test -race -count=1 -timeout 20m ./...
fi

if [ "$what" = all ] || [ "$what" = ts ]; then
  step "TypeScript declarations (tsc --noEmit: example client, catalogue examples)"
  scripts/deps.sh node
  (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error && npm run check)
fi

# Each client of the storm tests is a socket in the test process, and another two in its TCP
# switch: lift the soft limit on open files to the hard one.
raise_file_limit() { ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true; }

if [ "$what" = all ] || [ "$what" = e2e ]; then
  step "build"
  scripts/build.sh

  step "end-to-end tests (node --test, official socket.io-client)"
  scripts/deps.sh node
  scripts/deps.sh chromium
  scripts/deps.sh openssl
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
  raise_file_limit
  (cd e2e && REALTIMED_BIN="$PWD/../bin/realtimed" npm test)

  step "the chaos tests again with the wal event source (REALTIME_E2E_SOURCE=wal)"
  (cd e2e && REALTIMED_BIN="$PWD/../bin/realtimed" npm run test:wal)
fi

if [ "$what" = storm ]; then
  step "build"
  go build -o bin/realtimed ./cmd/realtimed

  step "reconnect storms with ${STORM_CLIENTS:-400} clients (e2e/tests/storm.test.mjs)"
  scripts/deps.sh node
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
  raise_file_limit
  echo "open files: $(ulimit -n)"
  (cd e2e && REALTIMED_BIN="$PWD/../bin/realtimed" node --test --test-timeout=900000 tests/storm.test.mjs)
fi

if [ "$what" = fleet ]; then
  step "build"
  scripts/build.sh

  step "fleet mode: ${FLEET_NODES:-8} nodes, ${FLEET_CLIENTS:-2000} clients, then chaos (e2e/tests/fleet*.test.mjs)"
  scripts/deps.sh node
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
  raise_file_limit
  (cd e2e && REALTIMED_BIN="$PWD/../bin/realtimed" node --test --test-concurrency=1 --test-timeout=1800000 tests/fleet.test.mjs tests/fleet-chaos.test.mjs tests/fleet-control.test.mjs)
fi

step "all tests passed"
