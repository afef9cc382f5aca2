package walsource_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/walsource"
)

// env is a fresh database in wal mode with a slot of its own (slots are per server, and tests
// share the server).
type env struct {
	url  string
	db   *database.Config
	pool *pgxpool.Pool
	slot string
}

func newEnv(t *testing.T, source string) *env { return newEnvTB(t, source) }

// newEnvB is newEnv for benchmarks, in wal mode.
func newEnvB(b *testing.B) *env { return newEnvTB(b, walsource.SourceWAL) }

func newEnvTB(t testing.TB, source string) *env {
	t.Helper()
	url := pgtest.NewDatabase(t)
	db := database.MustParse(url)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	e := &env{url: url, db: db, slot: "t_" + hex.EncodeToString(b)}
	t.Cleanup(func() { pgtest.DropSlot(t, url, e.slot) })
	pool, err := db.NewPool(context.Background(), "walsource-test", 40)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.pool = pool
	if _, err := walsource.SetSource(context.Background(), pool, source, e.slot); err != nil {
		t.Fatal(err)
	}
	return e
}

// readerConfig is a reader of e's slot, named app in pg_stat_activity (its lock and append
// connections; the replication connection is walsource.ApplicationName).
func (e *env) readerConfig(app string) walsource.Config {
	return walsource.Config{
		Slot:    e.slot,
		Connect: e.db.Connector(app),
		ConnectReplication: func(ctx context.Context) (*pgconn.PgConn, error) {
			return e.db.ConnectReplication(ctx, walsource.ApplicationName)
		},
		Retry:          200 * time.Millisecond,
		StatusInterval: 200 * time.Millisecond,
	}
}

// startReader runs a reader until the test ends (or the returned stop is called).
func (e *env) startReader(t testing.TB, cfg walsource.Config) (*walsource.Reader, func()) {
	t.Helper()
	r, err := walsource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return r, stop
}

// row is an appended event as realtime.events holds it.
type row struct {
	pos     int64
	event   string
	users   []string
	payload string
	lsn     *string
	index   *int32
}

func (e *env) rows(t *testing.T) []row {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT pos, event, users, payload::text, commit_lsn::text, commit_index
		FROM realtime.events WHERE pos IS NOT NULL ORDER BY pos`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.pos, &x.event, &x.users, &x.payload, &x.lsn, &x.index)
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (e *env) count(t *testing.T) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), `SELECT count(*) FROM realtime.events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitCount waits until realtime.events holds n rows.
func (e *env) waitCount(t *testing.T, n int) {
	t.Helper()
	wait.Until(t, "events in realtime.events", func() bool { return e.count(t) >= n })
	if got := e.count(t); got != n {
		t.Fatalf("realtime.events holds %d events, want %d", got, n)
	}
}
