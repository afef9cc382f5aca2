package main

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/realtimed/realtimed/internal/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "realtimed-cmd")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "realtimed")
	// Built as make build does (scripts/build.sh records the git revision).
	if out, err := exec.Command("../../scripts/build.sh", binary).CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runCLI(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIInput(t, env, "", args...)
}

// runCLIInput runs the binary with env (and PATH only) and stdin, and returns its output and
// exit status.
func runCLIInput(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestBadUsageExitsTwoWithOneLine: bad configuration or usage → one clear line, exit status 2.
func TestBadUsageExitsTwoWithOneLine(t *testing.T) {
	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"serve without DATABASE_URL", nil, nil, "DATABASE_URL is required"},
		{"bad duration", []string{"DATABASE_URL=postgres://x/y", "REALTIME_PING_TIMEOUT=forever"}, []string{"serve"}, "REALTIME_PING_TIMEOUT"},
		{"unknown flag", nil, []string{"serve", "--nope"}, "nope"},
		{"unknown command", nil, []string{"frobnicate"}, "unknown command"},
		{"migrate without action", nil, []string{"migrate"}, "expected up, down"},
		{"migrate with an unknown action", nil, []string{"migrate", "sideways"}, "unknown action"},
		{"triggers without action", nil, []string{"triggers"}, "expected apply or diff"},
		{"token verify without a token", nil, []string{"token", "verify"}, "expected the token"},
		{"token without user", []string{"REALTIME_JWT_SECRET=s"}, []string{"token"}, "--user is required"},
		{"token without secret", nil, []string{"token", "--user", "u"}, "REALTIME_JWT_SECRET"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.env, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr %q, want one line containing %q", stderr, tc.want)
			}
		})
	}
}

func TestToken(t *testing.T) {
	out, stderr, code := runCLI(t, []string{"REALTIME_JWT_SECRET=s"}, "token", "--user", "u1", "--ttl", "5m")
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: exit %d, out %q, err %q", code, out, stderr)
	}
}

func TestMigrateAndTriggers(t *testing.T) {
	db := pgtest.NewDatabase(t) // already migrated: up is a no-op, version reports both sets
	env := []string{"DATABASE_URL=" + db, "REALTIME_REFERENCE_SCHEMA=true"}
	if out, stderr, code := runCLI(t, env, "migrate", "up"); code != 0 || !strings.Contains(out, "realtime: up to date at version") {
		t.Fatalf("migrate up: %d %q %q", code, out, stderr)
	}
	out, stderr, code := runCLI(t, env, "migrate", "version")
	if code != 0 || !strings.Contains(out, "realtime: version") || !strings.Contains(out, "app: version") {
		t.Fatalf("migrate version: %d %q %q", code, out, stderr)
	}
	if out, stderr, code := runCLI(t, env, "triggers", "apply"); code != 0 || !strings.Contains(out, "unchanged  tasks.sql") {
		t.Fatalf("triggers apply: %d %q %q", code, out, stderr)
	}
	if out, stderr, code := runCLI(t, env, "demo"); code != 0 || !strings.Contains(out, `"familyId"`) {
		t.Fatalf("demo: %d %q %q", code, out, stderr)
	}
}

// TestReady is the container health check: exit 0 with a ready node on REALTIME_ADDR, 1 otherwise.
func TestReady(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		code := int(status.Load())
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"ready":` + map[bool]string{true: "true", false: "false"}[code == 200] + "}\n"))
	})}
	go srv.Serve(ln) //nolint:errcheck
	defer srv.Close()

	_, stderr, code := runCLI(t, []string{"REALTIME_ADDR=" + addr}, "ready")
	if code != 1 || !strings.Contains(stderr, "not ready (503)") {
		t.Fatalf("unready node: exit %d, stderr %q", code, stderr)
	}
	status.Store(http.StatusOK)
	out, stderr, code := runCLI(t, []string{"REALTIME_ADDR=" + addr}, "ready")
	if code != 0 || !strings.Contains(out, `"ready":true`) {
		t.Fatalf("ready node: exit %d, out %q, stderr %q", code, out, stderr)
	}
	srv.Close()
	if _, _, code := runCLI(t, []string{"REALTIME_ADDR=" + addr}, "ready"); code != 1 {
		t.Fatalf("no node: exit %d, want 1", code)
	}
}
