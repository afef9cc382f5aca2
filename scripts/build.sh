#!/usr/bin/env bash
# Builds realtimed (bin/realtimed, or the path given) with the git commit it is built from, so
# that `realtimed version` and the realtimed_build_info metric name it even where the Go
# toolchain records no version control information (GOFLAGS=-buildvcs=false, a git worktree).
#   scripts/build.sh [OUTPUT]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bin/realtimed}
rev=$(git rev-parse HEAD 2>/dev/null || true)
modified=false
if [ -n "$rev" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then modified=true; fi
pkg=github.com/realtimed/realtimed/buildinfo
go build -ldflags "-X $pkg.revision=$rev -X $pkg.modified=$modified" -o "$out" ./cmd/realtimed
# The NATS server the end-to-end tests of fleet mode start (REALTIME_BUS).
go build -o "$(dirname "$out")/realtime-nats" ./cmd/realtime-nats
