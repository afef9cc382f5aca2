package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/auth/authtest"
	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/siotest"
)

const testSecret = "server-test-secret-0123456789abcdef-xyz"

// running is a served node.
type running struct {
	srv  *Server
	base string // http(s)://127.0.0.1:port
	log  *test.Hook
}

// start serves a node configured by env (DATABASE_URL and the secret are filled in) on a
// free loopback port until the test ends.
func start(t *testing.T, env map[string]string) *running {
	t.Helper()
	vars := map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "REALTIME_JWT_SECRET": testSecret,
		"REALTIME_REFERENCE_SCHEMA": "true"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	return &running{srv: srv, base: scheme + "://" + ln.Addr().String(), log: hook}
}

func token(t *testing.T, user string) siotest.Options {
	t.Helper()
	tok, err := auth.SignHS256([]byte(testSecret), user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return siotest.Options{Auth: map[string]string{"token": tok}}
}

func connect(t *testing.T, base string, o siotest.Options) (*siotest.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := siotest.Connect(ctx, base, o)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func TestTLSTermination(t *testing.T) {
	certPath, keyPath, pool := authtest.SelfSignedCert(t)
	node := start(t, map[string]string{"REALTIME_TLS_CERT": certPath, "REALTIME_TLS_KEY": keyPath})
	if !strings.HasPrefix(node.base, "https://") {
		t.Fatalf("base %s", node.base)
	}
	o := token(t, "tls-user")
	o.TLS = &tls.Config{RootCAs: pool}
	c, err := connect(t, node.base, o)
	if err != nil || c.Refused != nil {
		t.Fatalf("wss connect: %v %+v", err, c)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(node.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.Proto != "HTTP/1.1" {
		t.Fatalf("healthz over TLS: %d %v %s", resp.StatusCode, resp.TLS, resp.Proto)
	}
	// Plain HTTP on the TLS port gets nothing useful.
	plain, err := http.Get("http://" + strings.TrimPrefix(node.base, "https://") + "/healthz")
	if err == nil {
		defer plain.Body.Close()
		if plain.StatusCode == 200 {
			t.Fatal("plain HTTP served on the TLS port")
		}
	}
	// TLS 1.1 is refused.
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(node.base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("TLS 1.1 accepted")
	}
}

func TestHandshakeTimeoutClosesSlowClients(t *testing.T) {
	certPath, keyPath, _ := authtest.SelfSignedCert(t)
	plain := start(t, map[string]string{"REALTIME_HANDSHAKE_TIMEOUT": "300ms"})
	secure := start(t, map[string]string{"REALTIME_HANDSHAKE_TIMEOUT": "300ms", "REALTIME_TLS_CERT": certPath, "REALTIME_TLS_KEY": keyPath})
	for _, tc := range []struct {
		name, base string
		send       string
	}{
		{"request headers never finished", plain.base, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"},
		{"nothing sent at all", plain.base, ""},
		{"TLS handshake never started", secure.base, ""},
		{"TLS handshake abandoned midway", secure.base, "\x16\x03\x01\x00\xff\x01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.base[strings.Index(tc.base, "//")+2:]
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tc.send != "" {
				if _, err := conn.Write([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
			}
			// Without the timeout the server would wait for ever; the read deadline is the
			// test's own bound, far above the configured 300ms.
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server kept a slow handshake open")
			}
		})
	}
	// net/http's line about the failed TLS handshakes goes to our log at debug level.
	deadline := time.Now().Add(10 * time.Second)
	for !hasEntry(secure.log, logrus.DebugLevel, "TLS handshake error") {
		if time.Now().After(deadline) {
			t.Fatal("the failed TLS handshakes were not logged at debug level")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasEntry(h *test.Hook, level logrus.Level, substr string) bool {
	for _, e := range h.AllEntries() {
		if e.Level == level && strings.Contains(e.Message, substr) {
			return true
		}
	}
	return false
}

func TestHandshakeRateThroughTheServer(t *testing.T) {
	node := start(t, map[string]string{"REALTIME_HANDSHAKE_RATE": "0.1", "REALTIME_HANDSHAKE_BURST": "2"})
	from := func(local string) (*siotest.Conn, error) {
		o := token(t, "rate-user")
		o.LocalAddr = local
		return connect(t, node.base, o)
	}
	for i := 0; i < 2; i++ {
		if c, err := from("127.0.0.1"); err != nil || c.Refused != nil {
			t.Fatalf("handshake %d of the burst: %v %+v", i+1, err, c)
		}
	}
	_, err := from("127.0.0.1")
	var he *siotest.HandshakeError
	if !errors.As(err, &he) || he.Status != http.StatusTooManyRequests || he.Header.Get("Retry-After") == "" ||
		!strings.Contains(he.Body, "Too many connection attempts") {
		t.Fatalf("third handshake from 127.0.0.1: %v, want 429 with Retry-After and a message", err)
	}
	// Other addresses are not affected (Linux routes all of 127/8 to loopback).
	for _, other := range []string{"127.0.0.2", "127.0.0.3"} {
		if c, err := from(other); err != nil || c.Refused != nil {
			t.Fatalf("handshake from %s while 127.0.0.1 is throttled: %v %+v", other, err, c)
		}
	}
}

func TestMaxConnectionsPerUserThroughTheServer(t *testing.T) {
	node := start(t, map[string]string{"REALTIME_MAX_CONNECTIONS_PER_USER": "1"})
	if c, err := connect(t, node.base, token(t, "solo")); err != nil || c.Refused != nil {
		t.Fatalf("first: %v %+v", err, c)
	}
	c, err := connect(t, node.base, token(t, "solo"))
	if err != nil || c.Refused == nil || c.Refused.Code() != "too_many_connections" {
		t.Fatalf("second: %v %+v", err, c)
	}
}

func TestSessionQueryIsCheckedAtStart(t *testing.T) {
	vars := map[string]string{"DATABASE_URL": pgtest.NewDatabase(t),
		"REALTIME_SESSION_QUERY": `SELECT user_id::text FROM sessions WHERE token = $1`}
	cfg, err := config.Load(func(k string) string { return vars[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := test.NewNullLogger()
	srv, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.pool.Close()
	err = srv.Prepare(context.Background())
	var ce *config.InvalidError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "REALTIME_SESSION_QUERY") || !strings.Contains(err.Error(), "want two") {
		t.Fatalf("Prepare = %v, want a configuration error naming REALTIME_SESSION_QUERY", err)
	}
}

func TestNoSessionsTableDisablesSessionTokens(t *testing.T) {
	node := start(t, map[string]string{})
	if _, err := node.srv.pool.Exec(context.Background(), "DROP TABLE sessions CASCADE"); err != nil {
		t.Fatal(err)
	}
	if err := node.srv.auth.checkSessions(context.Background(), node.srv.log); err != nil {
		t.Fatal(err)
	}
	if node.srv.auth.verifier.Sessions != nil {
		t.Fatal("session tokens still enabled without a sessions table")
	}
	found := false
	for _, e := range node.log.AllEntries() {
		found = found || strings.Contains(e.Message, "session tokens disabled")
	}
	if !found {
		t.Fatal("disabling session tokens was not logged")
	}
}

func TestCertificateIsReloadedWhenTheFilesChange(t *testing.T) {
	certA, keyA, _ := authtest.SelfSignedCert(t)
	certB, keyB, _ := authtest.SelfSignedCert(t)
	log, hook := test.NewNullLogger()
	cf, err := newCertFiles(certA, keyA, log)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cf.now = func() time.Time { return now }
	first, _ := cf.get(nil)
	copyFile(t, certB, certA)
	copyFile(t, keyB, keyA)
	bump(t, certA, keyA)
	now = now.Add(certCheckInterval)
	second, _ := cf.get(nil)
	if string(second.Certificate[0]) == string(first.Certificate[0]) {
		t.Fatal("the renewed certificate was not picked up")
	}
	// A half-written renewal (cert without its key) keeps the current pair.
	copyFile(t, certB, certA)
	if err := os.WriteFile(keyA, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	bump(t, certA, keyA)
	now = now.Add(certCheckInterval)
	third, _ := cf.get(nil)
	if third != second {
		t.Fatal("a broken pair replaced the working one")
	}
	if len(hook.AllEntries()) == 0 || !strings.Contains(hook.LastEntry().Message, "keeping the previous one") {
		t.Fatal("the failed reload was not logged")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// bump moves the files' modification times forward, as a renewal would.
func bump(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		mt := fi.ModTime().Add(time.Second)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}
