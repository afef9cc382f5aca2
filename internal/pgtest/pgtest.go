// Package pgtest gives tests a fresh PostgreSQL database with realtimed's schemas and rules,
// on the server named by REALTIME_TEST_DATABASE_URL (make test starts a private one). A test
// that needs PostgreSQL and finds no server fails; it never skips.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/migrations"
	"github.com/realtimed/realtimed/sql/triggers"
)

// EnvAdminURL names the variable holding an admin URL of the test PostgreSQL server.
const EnvAdminURL = "REALTIME_TEST_DATABASE_URL"

// AdminURL returns the admin URL of the test server, or fails the test.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvAdminURL)
	if u == "" {
		t.Fatalf("%s is not set: run `make test` (it starts a private PostgreSQL), or point it at a server: "+
			"postgres://postgres@127.0.0.1:5432/postgres", EnvAdminURL)
	}
	return u
}

// NewDatabase creates an empty-of-data database with the realtime and reference schemas
// migrated and the embedded rules applied. It is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return NewDatabaseOn(t, AdminURL(t))
}

// NewDatabaseOn is NewDatabase on the server of the admin URL admin (for instance a Cluster's).
func NewDatabaseOn(t testing.TB, admin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", EnvAdminURL, err)
	}
	defer conn.Close(ctx)

	template, err := ensureTemplate(ctx, conn, admin)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := "t_" + randomHex(8)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, template)); err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	t.Cleanup(func() { dropOn(t, admin, name) })
	return WithDatabase(admin, name)
}

// Drop drops a database, disconnecting its sessions.
func Drop(t testing.TB, name string) { dropOn(t, AdminURL(t), name) }

func dropOn(t testing.TB, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Errorf("pgtest: dropping %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		t.Errorf("pgtest: dropping %s: %v", name, err)
	}
}

// WithDatabase returns admin with its database replaced by name.
func WithDatabase(admin, name string) string {
	u, err := url.Parse(admin)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + name
	return u.String()
}

// ensureTemplate builds, once per content of the migrations and rules, a template database.
func ensureTemplate(ctx context.Context, conn *pgx.Conn, admin string) (string, error) {
	name := "realtimed_tmpl_" + schemaHash()[:16]
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
		return "", fmt.Errorf("locking template creation: %w", err)
	}
	defer conn.Exec(ctx, "SELECT pg_advisory_unlock(4242)") //nolint:errcheck
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("looking for the template: %w", err)
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", building)); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", fmt.Errorf("creating the template: %w", err)
	}
	url := WithDatabase(admin, building)
	if err := migrations.Up(url, migrations.Sets(true)...); err != nil {
		return "", fmt.Errorf("migrating the template: %w", err)
	}
	tconn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	_, err = triggers.Apply(ctx, tconn, triggers.Embedded())
	tconn.Close(ctx)
	if err != nil {
		return "", fmt.Errorf("applying rules to the template: %w", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", fmt.Errorf("naming the template: %w", err)
	}
	return name, nil
}

// schemaHash identifies the embedded migrations and rules, so a changed file gets a new template.
func schemaHash() string {
	h := sha256.New()
	for _, src := range []fs.FS{migrations.Files(), triggers.Embedded()} {
		_ = fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := fs.ReadFile(src, p)
			h.Write([]byte(p))
			h.Write(b)
			return nil
		})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
