# realtimed — see README.md. `make run` and `make test` work on a fresh machine: they start a
# private PostgreSQL (scripts/pg.sh) and install what the tests need.
.PHONY: build run test test-go test-ts test-e2e test-storm test-fleet vet fmt pg-stop clean bench bench-writers bench-drain

GO ?= go

build:
	scripts/build.sh

run:
	scripts/run.sh

test:
	scripts/test.sh

# Pieces of `make test`, for working on one part (each still starts PostgreSQL when needed).
test-go:
	scripts/test.sh go

test-ts:
	scripts/test.sh ts

test-e2e:
	scripts/test.sh e2e

# The reconnect-storm tests at full size: 5,000 clients lose their node at once (a few minutes).
test-storm:
	STORM_CLIENTS=$${STORM_CLIENTS:-5000} scripts/test.sh storm

# Fleet mode at a bigger size: 8 nodes, one NATS, 6,000 clients, 30s of writes, then the chaos
# test (make test runs both with 2,000 clients and 6s).
test-fleet:
	FLEET_CLIENTS=$${FLEET_CLIENTS:-6000} FLEET_SECONDS=$${FLEET_SECONDS:-30} scripts/test.sh fleet

# Side-by-side measurements of realtimed and the Node peer (docs/performance.md).
bench:
	scripts/bench.sh

# What rules cost the application's writers: no rule, JSON only, the notify and the wal source,
# 16 pgbench writers, durable settings, interleaved rounds (docs/performance.md). Takes the
# machine's heavy-run lock.
bench-writers:
	flock -o /tmp/realtimed-heavy.lock scripts/offsets-bench.sh

# How fast one node drains 500,000 events waiting in the wal source's slot (docs/performance.md).
bench-drain:
	flock -o /tmp/realtimed-heavy.lock scripts/drain-bench.sh

vet:
	gofmt -l . | (! grep .) && $(GO) vet ./...

pg-stop:
	scripts/pg.sh stop

clean:
	scripts/pg.sh destroy
	rm -rf bin e2e/node_modules e2e/artifacts clients/typescript/node_modules clients/typescript/build
