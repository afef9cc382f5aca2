package doctor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/internal/natstest"
	"github.com/realtimed/realtimed/internal/pgtest"
)

func busEnv(t *testing.T, url, dbURL string) *Env {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"REALTIME_BUS": url, "DATABASE_URL": dbURL}[k]
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Config: cfg}
	t.Cleanup(func() {
		if env.pool != nil {
			env.pool.Close()
		}
	})
	return env
}

func TestBusChecks(t *testing.T) {
	nats := natstest.Start(t)
	dbURL := pgtest.NewDatabase(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		url    string
		setup  func(t *testing.T)
		check  func(context.Context, *Env) Result
		status Status
		says   string
	}{
		{"bus reachable", nats.URL(), nil, checkBus, OK, "came back in"},
		{"bus unreachable", "nats://127.0.0.1:1", nil, checkBus, Failed, "NATS (REALTIME_BUS): connecting"},
		{"nothing published, nobody elected", nats.URL(), nil, checkBusPublisher, Warning, "none is elected"},
		{"elected", nats.URL(), func(t *testing.T) {
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close(ctx) })
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, cluster.BusPublisherLock); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, `INSERT INTO realtime.bus_state (published_through, publisher) VALUES (0, 'node-a/1')`); err != nil {
				t.Fatal(err)
			}
		}, checkBusPublisher, OK, "publisher node-a/1 elected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			env := busEnv(t, tc.url, dbURL)
			if !busConfigured(env) {
				t.Fatal("the bus checks do not apply")
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := env.Pool(cctx); err != nil {
				t.Fatal(err)
			}
			res := tc.check(cctx, env)
			if res.Status != tc.status || !strings.Contains(res.Message, tc.says) {
				t.Fatalf("got %s %q, want %s containing %q", res.Status, res.Message, tc.status, tc.says)
			}
		})
	}
}
