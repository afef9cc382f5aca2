// Package servertest runs a real realtimed node for tests of other packages: configured from
// environment variables, prepared (migrations, rules) and served on a free loopback port until
// the test ends.
package servertest

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/server"
)

// Start serves a node configured by vars (names as in the README, e.g. DATABASE_URL and
// REALTIME_JWT_SECRET) until the test ends, logging to log. It returns the node and its base
// URL (http://127.0.0.1:port). The test fails if Serve returns an error.
func Start(t testing.TB, vars map[string]string, log *logrus.Logger) (*server.Server, string) {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return vars[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	if addr := cfg.InternalAddr; addr != "" {
		// Serve opens the internal address itself: wait until it accepts connections.
		wait.Until(t, "the internal address "+addr+" accepts connections", func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = c.Close()
			}
			return err == nil
		})
	}
	return srv, "http://" + ln.Addr().String()
}

// FreeAddr returns a loopback address that nothing listens on (for REALTIME_INTERNAL_ADDR,
// or an address that refuses connections).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
