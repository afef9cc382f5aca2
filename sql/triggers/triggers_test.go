package triggers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
