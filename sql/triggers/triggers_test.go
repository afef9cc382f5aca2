package triggers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/sql/triggers"
)

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestEmbeddedRulesAreIdempotent(t *testing.T) {
	conn := connect(t)
	for i := 0; i < 2; i++ {
		names, err := triggers.Apply(context.Background(), conn, triggers.Embedded())
		if err != nil {
			t.Fatalf("apply #%d: %v", i+1, err)
		}
		if len(names) == 0 || names[0] != "tasks.sql" && !strings.HasSuffix(names[0], ".sql") {
			t.Fatalf("applied %v", names)
		}
	}
}

// TestBrokenRuleChangesNothing: rules apply in one transaction; a broken file names itself and
// leaves the earlier files of the same run unapplied.
func TestBrokenRuleChangesNothing(t *testing.T) {
	conn := connect(t)
	dir := t.TempDir()
	write := func(name, sql string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a_good.sql", `CREATE OR REPLACE FUNCTION realtime.rule_probe() RETURNS int LANGUAGE sql AS 'SELECT 1';`)
	write("b_broken.sql", `CREATE TRIGGER nope AFTER INSERT ON no_such_table FOR EACH ROW EXECUTE FUNCTION x();`)
	_, err := triggers.Apply(context.Background(), conn, triggers.Source(dir))
	if err == nil || !strings.Contains(err.Error(), "b_broken.sql") {
		t.Fatalf("error %v should name b_broken.sql", err)
	}
	var exists bool
	if err := conn.QueryRow(context.Background(), `SELECT to_regproc('realtime.rule_probe') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("a_good.sql was applied although the run failed (exists=%v, err=%v)", exists, err)
	}
}

func TestEmptyFolderIsAnError(t *testing.T) {
	conn := connect(t)
	if _, err := triggers.Apply(context.Background(), conn, triggers.Source(t.TempDir())); err == nil {
		t.Fatal("applying an empty folder must fail")
	}
}

// TestApplyYieldsToApplicationTransactions reproduces the deadlock between a rules run and an
// application transaction, seen when a node started while the application was writing: the
// application has written to tasks, the run locks chats (an earlier rule file), the
// application then reads chats and waits, and the run reaches tasks and waits too. The
// application waited first, so PostgreSQL's deadlock check (after deadlock_timeout, 1s) would
// fail the application's transaction. The run must give its locks up before that, however
// long its first file takes, so that the application's transaction succeeds, and apply the
// rules once the application has committed.
func TestApplyYieldsToApplicationTransactions(t *testing.T) {
	for _, firstFileSeconds := range []string{"0.3", "0.9"} {
		t.Run("first file "+firstFileSeconds+"s", func(t *testing.T) {
			testApplyYields(t, firstFileSeconds)
		})
	}
}

func testApplyYields(t *testing.T, firstFileSeconds string) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	app, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	rules, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer rules.Close(ctx)
	// Two rule files shaped like the real ones (DROP TRIGGER, which locks the table exclusively
	// when the trigger exists, then CREATE TRIGGER). The first one takes a while on the first
	// attempt only (a sequence is not rolled back), so that the application's read of chats
	// comes while the run holds it.
	probe := func(table string) string {
		return `DROP TRIGGER IF EXISTS probe ON ` + table + `;
			CREATE TRIGGER probe AFTER INSERT ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION realtime.probe();`
	}
	if _, err := app.Exec(ctx, `CREATE SEQUENCE realtime.probe_attempts; CREATE FUNCTION realtime.probe()
		RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';`+probe("chats")+probe("tasks")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, sql := range map[string]string{
		"a_chats.sql": probe("chats") + ` SELECT pg_sleep(CASE WHEN nextval('realtime.probe_attempts') = 1
			THEN ` + firstFileSeconds + ` ELSE 0 END);`,
		"b_tasks.sql": probe("tasks"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sql), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)                                                            //nolint:errcheck
	if _, err := tx.Exec(ctx, "LOCK TABLE tasks IN ROW EXCLUSIVE MODE"); err != nil { // what an INSERT takes
		t.Fatal(err)
	}
	var (
		names    []string
		applyErr error
		finished = make(chan struct{})
	)
	go func() {
		defer close(finished)
		names, applyErr = triggers.Apply(ctx, rules, triggers.Source(dir))
	}()
	defer func() { // on a failure, release the application's locks and let Apply finish before rules is closed
		_ = tx.Rollback(ctx)
		<-finished
	}()
	waitForLock(t, app, rules.PgConn().PID(), "chats", true)
	// The application's transaction now waits for chats, which the run holds; the run then
	// waits for tasks. The application's statement must not fail.
	if _, err := tx.Exec(ctx, "SELECT count(*) FROM chats"); err != nil {
		t.Fatalf("the application's transaction failed: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("the application's commit failed: %v", err)
	}
	select {
	case <-finished:
		if applyErr != nil || len(names) != 2 {
			t.Fatalf("apply: %v, %v", names, applyErr)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("the rules were not applied after the application committed")
	}
}

// waitForLock waits until the backend pid holds (granted) or waits for a lock on table.
func waitForLock(t *testing.T, conn *pgx.Conn, pid uint32, table string, granted bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var found bool
		err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_locks
			WHERE pid = $1 AND granted = $2 AND relation = to_regclass($3))`, pid, granted, table).Scan(&found)
		if err != nil {
			t.Fatal(err)
		}
		if found {
			return
		}
		if time.Now().After(deadline) {
			rows, _ := conn.Query(context.Background(), `SELECT coalesce(relation::regclass::text, locktype), mode, granted FROM pg_locks WHERE pid = $1`, pid)
			dump, _ := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
				Rel, Mode string
				G         bool
			}])
			t.Fatalf("backend %d never had a lock on %s (granted=%v): %v", pid, table, granted, dump)
		}
		time.Sleep(time.Millisecond)
	}
}
