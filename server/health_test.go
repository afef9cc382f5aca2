package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/wait"
)

// testConfig returns the configuration of a node on a fresh database.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load(func(string) string { return "" }, []string{
		"--database-url", pgtest.NewDatabase(t), "--addr", "127.0.0.1:0", "--jwt-secret", "test-secret",
		"--reference-schema=true", "--auto-migrate=false", "--apply-triggers=false", "--shutdown-timeout", "5s",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newTestServer(t *testing.T, cfg config.Config) *Server {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	s, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve runs s on a free port until the test ends; it returns the base URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

type readiness struct {
	Ready  bool            `json:"ready"`
	Checks map[string]bool `json:"checks"`
}

func getReady(t *testing.T, h http.Handler) (int, readiness) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	var r readiness
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("readyz body %q: %v", w.Body.String(), err)
	}
	return w.Code, r
}

func TestHealthzAnswersWhileAlive(t *testing.T) {
	s := newTestServer(t, testConfig(t))
	defer s.pool.Close()
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"ok"`) {
		t.Fatalf("healthz = %d %s", w.Code, w.Body.String())
	}
}

func TestReadyzFollowsListenerDatabaseAndShutdown(t *testing.T) {
	cfg := testConfig(t)
	s := newTestServer(t, cfg)
	h := s.Handler()

	// Before the listener runs: the database is reachable, the listener is not connected.
	code, r := getReady(t, h)
	if code != http.StatusServiceUnavailable || r.Ready || r.Checks["listener"] || !r.Checks["database"] || !r.Checks["serving"] {
		t.Fatalf("before serving: %d %+v", code, r)
	}

	serve(t, s)
	wait.Until(t, "ready", func() bool { code, _ := getReady(t, h); return code == http.StatusOK })

	// The database refuses connections and drops the existing ones: not ready, and why.
	dbName := strings.TrimPrefix(mustParse(t, cfg.DatabaseURL).Path, "/")
	admin := adminConn(t)
	exec(t, admin, "ALTER DATABASE "+dbName+" ALLOW_CONNECTIONS false")
	exec(t, admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+dbName+"'")
	wait.Until(t, "not ready without the database", func() bool {
		code, r := getReady(t, h)
		return code == http.StatusServiceUnavailable && !r.Checks["database"] && !r.Checks["listener"] && r.Checks["serving"]
	})

	// The database comes back: the listener reconnects and catches up.
	exec(t, admin, "ALTER DATABASE "+dbName+" ALLOW_CONNECTIONS true")
	wait.Until(t, "ready again", func() bool { code, _ := getReady(t, h); return code == http.StatusOK })

	// Shutting down: not ready, whatever the rest says.
	s.stopping.Store(true)
	code, r = getReady(t, h)
	if code != http.StatusServiceUnavailable || r.Checks["serving"] || !r.Checks["database"] {
		t.Fatalf("while stopping: %d %+v", code, r)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func adminConn(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func exec(t *testing.T, c *pgx.Conn, sql string) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
