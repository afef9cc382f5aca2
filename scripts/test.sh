#!/usr/bin/env bash
# Everything CI runs: formatting, vet, Go tests with the race detector against a private
# PostgreSQL, then the end-to-end tests with the official socket.io-client.
#   scripts/test.sh [all|go|ts|e2e]
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

if [ "$what" = all ] || [ "$what" = e2e ]; then
  step "build"
  scripts/build.sh

  step "end-to-end tests (node --test, official socket.io-client)"
  scripts/deps.sh node
  scripts/deps.sh chromium
  scripts/deps.sh openssl
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
  (cd e2e && REALTIMED_BIN="$PWD/../bin/realtimed" npm test)
fi

step "all tests passed"
