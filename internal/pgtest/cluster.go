package pgtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL server of its own, for tests that stop or restart PostgreSQL (which
// they must never do to the server other tests share). It is started by scripts/pg.sh in a
// temporary folder, with synchronous_commit on (an acknowledged commit survives a crash of
// the server) but fsync off (the machine does not crash).
type Cluster struct {
	dir   string
	admin string
	opts  string // extra server options (NewClusterWith)
}

// NewCluster starts a cluster; it is stopped and deleted when the test ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	return NewClusterWith(t, "")
}

// NewClusterWith starts a cluster with extra server options (after scripts/pg.sh's defaults,
// so they override them: "-c wal_level=replica").
func NewClusterWith(t testing.TB, opts string) *Cluster {
	t.Helper()
	// Under /tmp rather than t.TempDir(): as root, the script runs PostgreSQL as the postgres
	// user, who must reach the folder.
	dir, err := os.MkdirTemp("", "realtimed-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{dir: dir, opts: opts}
	t.Cleanup(func() {
		if _, err := c.script("stop", "immediate"); err != nil {
			t.Errorf("pgtest: stopping the cluster: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	out, err := c.script("start")
	if err != nil {
		t.Fatalf("pgtest: starting a cluster: %v", err)
	}
	c.admin = strings.TrimSpace(out)
	return c
}

// AdminURL returns the cluster's admin URL (database postgres).
func (c *Cluster) AdminURL() string { return c.admin }

// Restart stops the server with pg_ctl's mode ("fast": clients are disconnected cleanly;
// "immediate": a crash, recovered at start) and starts it again on the same port.
func (c *Cluster) Restart(t testing.TB, mode string) {
	t.Helper()
	if _, err := c.script("restart", mode); err != nil {
		t.Fatalf("pgtest: restarting the cluster: %v", err)
	}
}

// Stop stops the server (mode as in Restart); Start starts it again on the same port.
func (c *Cluster) Stop(t testing.TB, mode string) {
	t.Helper()
	if _, err := c.script("stop", mode); err != nil {
		t.Fatalf("pgtest: stopping the cluster: %v", err)
	}
}

// Start starts a stopped cluster on its port.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if _, err := c.script("start"); err != nil {
		t.Fatalf("pgtest: starting the cluster: %v", err)
	}
}

// WaitUp waits until the server accepts connections.
func (c *Cluster) WaitUp(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.admin)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: the cluster does not accept connections: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) script(args ...string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(root, "scripts", "pg.sh"), args...)
	cmd.Env = append(os.Environ(), "REALTIME_PG_DIR="+c.dir, "REALTIME_PG_OPTS=-c synchronous_commit=on "+c.opts)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/pg.sh %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// RepoRoot returns the top of the repository (the folder of go.mod), from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above the working directory")
		}
		dir = parent
	}
}
