// Package scripts holds the shell scripts of `make run`, `make test` and `make bench`; its
// tests run them as a user would.
package scripts

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPrivateClusterFromAPrivateCheckout starts the private PostgreSQL of a checkout that
// lives in a folder only its owner may enter (a clone in root's home, mode 0700). As root,
// PostgreSQL runs as the postgres user, who cannot enter it: the cluster must live where
// postgres can reach it, and the script must say where.
func TestPrivateClusterFromAPrivateCheckout(t *testing.T) {
	home, err := os.MkdirTemp("", "realtimed-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	checkout := filepath.Join(home, "realtimed")
	if err := os.MkdirAll(filepath.Join(checkout, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("pg.sh")
	if err != nil {
		t.Fatal(err)
	}
	pgsh := filepath.Join(checkout, "scripts", "pg.sh")
	if err := os.WriteFile(pgsh, script, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		cmd := exec.Command(pgsh, args...)
		cmd.Env = append(os.Environ(), "REALTIME_PG_DIR=") // the checkout's own .pg
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pg.sh %v: %v\n%s", args, err, stderr.String())
		}
		return strings.TrimSpace(string(out)), stderr.String()
	}
	t.Cleanup(func() { run("destroy") })

	url, logs := run("start")
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connecting to %s: %v\n%s", url, err, logs)
	}
	var one int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %v", err)
	}
	conn.Close(context.Background())

	dir, _ := run("dir")
	if os.Geteuid() == 0 {
		if !strings.HasPrefix(dir, "/var/tmp/realtimed-pg/") || !strings.Contains(logs, "the cluster lives in "+dir) {
			t.Fatalf("as root, the cluster is in %s; logs:\n%s", dir, logs)
		}
		if target, err := os.Readlink(filepath.Join(checkout, ".pg")); err != nil || target != dir {
			t.Fatalf(".pg links to %q (%v), want %s", target, err, dir)
		}
	}
	if !strings.Contains(logs, "private PostgreSQL on 127.0.0.1:") || !strings.Contains(logs, "(data in "+dir+"/data)") {
		t.Fatalf("the start does not say where the data is:\n%s", logs)
	}
	// Started again (make test after make run): the same cluster, already running.
	if again, _ := run("start"); again != url {
		t.Fatalf("second start: %s, want %s", again, url)
	}
	run("destroy")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("destroy left %s (%v)", dir, err)
	}
}
