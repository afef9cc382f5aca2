package doctor

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

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/database"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/wait"
)

func TestWALLevelVerdict(t *testing.T) {
	for _, tc := range []struct {
		level string
		want  Status
		says  string
	}{
		{"logical", OK, "wal_level is logical"},
		{"replica", Failed, "ALTER SYSTEM SET wal_level = logical"},
		{"minimal", Failed, "wal_level is minimal"},
	} {
		if got := walLevelVerdict(tc.level); got.Status != tc.want || !strings.Contains(got.Message, tc.says) {
			t.Errorf("%s: %v %q", tc.level, got.Status, got.Message)
		}
	}
}

func TestReplicationVerdict(t *testing.T) {
	for _, tc := range []struct {
		replication, superuser bool
		want                   Status
	}{{false, false, Failed}, {true, false, OK}, {false, true, OK}, {true, true, OK}} {
		got := replicationVerdict("app", tc.replication, tc.superuser)
		if got.Status != tc.want {
			t.Errorf("replication %v superuser %v: %v %q", tc.replication, tc.superuser, got.Status, got.Message)
		}
		if tc.want == Failed && !strings.Contains(got.Message, "ALTER ROLE app REPLICATION") {
			t.Errorf("no fix in %q", got.Message)
		}
	}
}

func TestSlotVerdict(t *testing.T) {
	ok := slotState{Name: "s", Exists: true, Plugin: "pgoutput", Database: "db", Active: true, WALStatus: "reserved", Lag: 100, Retained: 1000, Safe: -1}
	with := func(f func(*slotState)) slotState { s := ok; f(&s); return s }
	for _, tc := range []struct {
		name string
		st   slotState
		want Status
		says string
	}{
		{"active and caught up", ok, OK, "read by a node, 100 bytes behind"},
		{"missing", slotState{Name: "s"}, Failed, "no replication slot s"},
		{"another database's", with(func(s *slotState) { s.Database = "other" }), Failed, "decodes database other"},
		{"another plugin's", with(func(s *slotState) { s.Plugin = "test_decoding" }), Failed, "uses the plugin test_decoding, not pgoutput"},
		{"invalidated", with(func(s *slotState) { s.WALStatus = "lost" }), Failed, "pg_drop_replication_slot('s')"},
		{"far behind", with(func(s *slotState) { s.Lag = slotLagFail }), Failed, "1.0 GiB behind"},
		{"near invalidation", with(func(s *slotState) { s.Safe = 1 << 20 }), Failed, "1.0 MiB from being invalidated"},
		{"behind", with(func(s *slotState) { s.Lag = slotLagWarn }), Warning, "64.0 MiB behind"},
		{"not read", with(func(s *slotState) { s.Active = false }), Warning, "no realtimed node with REALTIME_SOURCE=wal is running"},
		{"unreserved", with(func(s *slotState) { s.WALStatus = "unreserved" }), Warning, "more WAL than max_wal_size"},
	} {
		if got := slotVerdict(tc.st, "db"); got.Status != tc.want || !strings.Contains(got.Message, tc.says) {
			t.Errorf("%s: %v %q, want %v saying %q", tc.name, got.Status, got.Message, tc.want, tc.says)
		}
	}
}

// TestWALChecksOnPostgreSQL runs the wal source's checks against PostgreSQL servers of the test's
// own (their settings change): wal_level replica, then on a logical one a role without and with
// REPLICATION, and the slot missing, unread, read by a real consumer (pg_recvlogical), near
// invalidation and invalidated.
func TestWALChecksOnPostgreSQL(t *testing.T) {
	replica := pgtest.NewClusterWith(t, "-c wal_level=replica")
	expect(t, walEnv(t, replica.AdminURL()), checkWALLevel, Failed, "wal_level is replica")

	cluster := pgtest.NewCluster(t)
	ctx := context.Background()
	admin := mustConnect(t, cluster.AdminURL())
	exec1(t, admin, "CREATE DATABASE doctor_wal")
	exec1(t, admin, "CREATE ROLE app LOGIN")
	admin.Close(ctx)
	dbURL := pgtest.WithDatabase(cluster.AdminURL(), "doctor_wal")
	env := walEnv(t, dbURL)
	slot := walSlotName(env)
	expect(t, env, checkWALLevel, OK, "wal_level is logical")

	expect(t, env, checkReplication, OK, "role postgres is a superuser")
	u := strings.Replace(dbURL, "postgres@", "app@", 1)
	expect(t, walEnv(t, u), checkReplication, Failed, "ALTER ROLE app REPLICATION")
	db := mustConnect(t, dbURL)
	exec1(t, db, "ALTER ROLE app REPLICATION")
	expect(t, walEnv(t, u), checkReplication, OK, "role app has the REPLICATION attribute")

	expect(t, env, checkSlot, Failed, "no replication slot "+slot)
	exec1(t, db, fmt.Sprintf("SELECT pg_create_logical_replication_slot('%s', 'pgoutput')", slot))
	expect(t, env, checkSlot, Warning, "is not being read")

	consumer := recvLogical(t, dbURL, slot)
	wait.UntilWithin(t, 10*time.Second, "the slot read", func() bool {
		return checkSlot(ctx, env).Status == OK
	})
	expect(t, env, checkSlot, OK, "is read by a node")
	consumer.Process.Kill() //nolint:errcheck
	consumer.Wait()         //nolint:errcheck
	wait.UntilWithin(t, 10*time.Second, "the slot inactive", func() bool {
		return checkSlot(ctx, env).Status == Warning
	})

	// Past max_slot_wal_keep_size (1 MB), the next checkpoint invalidates the unread slot.
	exec1(t, db, "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
	exec1(t, db, "SELECT pg_reload_conf()")
	wait.UntilWithin(t, 10*time.Second, "the slot near invalidation", func() bool {
		return strings.Contains(checkSlot(ctx, env).Message, "from being invalidated")
	})
	exec1(t, db, "CREATE TABLE filler (b text)")
	for i := 0; i < 3; i++ {
		exec1(t, db, "INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 5000)")
		exec1(t, db, "SELECT pg_switch_wal()")
	}
	exec1(t, db, "CHECKPOINT")
	expect(t, env, checkSlot, Failed, "was invalidated")
	db.Close(ctx)
}

func walEnv(t *testing.T, url string) *Env {
	t.Helper()
	env := &Env{Config: config.Config{DB: database.MustParse(url), Source: "wal"}}
	t.Cleanup(env.Close)
	if !walSource(env) {
		t.Fatal("the wal checks do not apply to REALTIME_SOURCE=wal")
	}
	return env
}

func expect(t *testing.T, env *Env, run func(context.Context, *Env) Result, want Status, says string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := run(ctx, env); got.Status != want || !strings.Contains(got.Message, says) {
		t.Fatalf("%v %q, want %v saying %q", got.Status, got.Message, want, says)
	}
}

func mustConnect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func exec1(t *testing.T, conn *pgx.Conn, sql string) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// recvLogical starts PostgreSQL's own logical decoding client on the slot; it reads until killed.
func recvLogical(t *testing.T, url, slot string) *exec.Cmd {
	t.Helper()
	root, err := pgtest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "pg.sh"), "bindir").Output()
	if err != nil {
		t.Fatalf("scripts/pg.sh bindir: %v", err)
	}
	conn := mustConnect(t, url)
	exec1(t, conn, "CREATE PUBLICATION doctor_pub")
	conn.Close(context.Background())
	cmd := exec.Command(filepath.Join(strings.TrimSpace(string(out)), "pg_recvlogical"), "-d", url, "--slot", slot, "--start", "-f", os.DevNull,
		"-o", "proto_version=1", "-o", "publication_names=doctor_pub")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) //nolint:errcheck
	return cmd
}
