// Package triggers holds the event rules: one SQL file per application table, each idempotent
// (CREATE OR REPLACE FUNCTION, DROP TRIGGER IF EXISTS + CREATE TRIGGER). They are embedded in
// the binary and applied at start and by `realtimed triggers apply`; REALTIME_TRIGGERS_DIR
// points realtimed at a folder of rule files instead, so rules change without a rebuild.
package triggers

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"

	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var embedded embed.FS

// Embedded returns the rule files built into the binary.
func Embedded() fs.FS { return embedded }

// Source returns the rules in dir, or the embedded ones when dir is empty.
func Source(dir string) fs.FS {
	if dir == "" {
		return embedded
	}
	return os.DirFS(dir)
}

// File is one rule file.
type File struct {
	Name string
	SQL  string
}

// Load reads the *.sql files of src in name order.
func Load(src fs.FS) ([]File, error) {
	names, err := fs.Glob(src, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing rule files: %w", err)
	}
	sort.Strings(names)
	files := make([]File, 0, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(src, name)
		if err != nil {
			return nil, fmt.Errorf("reading rule file %s: %w", name, err)
		}
		files = append(files, File{Name: path.Base(name), SQL: string(b)})
	}
	return files, nil
}

// lockKey serializes rule application across nodes that start at the same time.
const lockKey = 8243113893085555046

// Apply runs every rule file of src in one transaction: either all rules are in place
// afterwards or none changed. It returns the names of the files applied.
func Apply(ctx context.Context, conn *pgx.Conn, src fs.FS) ([]string, error) {
	files, err := Load(src)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files (*.sql) found")
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("applying rules: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lockKey)); err != nil {
		return nil, fmt.Errorf("applying rules: taking the lock: %w", err)
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		if _, err := tx.Exec(ctx, f.SQL); err != nil {
			return nil, fmt.Errorf("applying rule file %s: %w", f.Name, err)
		}
		names = append(names, f.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("applying rules: commit: %w", err)
	}
	return names, nil
}
