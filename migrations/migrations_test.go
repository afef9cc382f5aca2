package migrations_test

import (
	"context"
	"io/fs"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/migrations"
	"github.com/realtimed/realtimed/sql/triggers"
)

// The reference schema rolls back completely with the built-in rules applied (no rule may pin
// a table) and comes back up, with the rules applying cleanly again.
func TestReferenceSchemaDownAndUpWithRules(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ups, err := fs.Glob(migrations.Files(), "app/*.up.sql")
	if err != nil || len(ups) == 0 {
		t.Fatalf("no app migrations: %v", err)
	}
	if err := migrations.Down(url, len(ups), migrations.Reference); err != nil {
		t.Fatalf("down: %v", err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '%schema_migrations'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("%d tables left after rolling back the reference schema", tables)
	}
	if err := migrations.Up(url, migrations.Reference); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if _, err := triggers.Apply(context.Background(), conn, triggers.Embedded()); err != nil {
		t.Fatalf("rules after up: %v", err)
	}
	// Applying the rules is idempotent.
	if _, err := triggers.Apply(context.Background(), conn, triggers.Embedded()); err != nil {
		t.Fatalf("rules applied twice: %v", err)
	}
}
