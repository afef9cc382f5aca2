// Package triggers holds the event rules: one SQL file per application table, each idempotent
// (CREATE OR REPLACE FUNCTION, DROP TRIGGER IF EXISTS + CREATE TRIGGER). They are embedded in
// the binary and applied at start and by `realtimed triggers apply`; REALTIME_TRIGGERS_DIR
// points realtimed at a folder of rule files instead, so rules change without a rebuild.
package triggers

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// Applying a rule file locks its table (CREATE TRIGGER, DROP TRIGGER), and the run holds every
// lock until it commits. An application transaction that has written to a table the run has
// not reached yet, and then needs one it has already locked, would deadlock with it, and
// PostgreSQL might pick the application's transaction to fail. So every lock wait of a run is
// bounded by ruleLockTimeout, shorter than PostgreSQL's deadlock_timeout (1s by default): the
// run gives up first, releases what it holds, and tries again after a pause, for up to
// ruleLockRetryFor. Application transactions wait at most ruleLockTimeout for it.
const (
	ruleLockTimeout  = "200ms"
	ruleLockRetryFor = 30 * time.Second
)

// Apply runs every rule file of src in one transaction: either all rules are in place
// afterwards or none changed. It returns the names of the files applied. When the tables stay
// locked by other transactions, it retries for up to 30 seconds (see ruleLockTimeout).
func Apply(ctx context.Context, conn *pgx.Conn, src fs.FS) ([]string, error) {
	files, err := Load(src)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files (*.sql) found")
	}
	deadline := time.Now().Add(ruleLockRetryFor)
	pause := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := applyOnce(ctx, conn, files)
		if err == nil {
			names := make([]string, len(files))
			for i, f := range files {
				names[i] = f.Name
			}
			return names, nil
		}
		if !isLockConflict(err) {
			return nil, err
		}
		if time.Now().Add(pause).After(deadline) {
			return nil, fmt.Errorf("applying rules: the tables stayed locked by other transactions (%d attempts in %s): %w",
				attempt, ruleLockRetryFor, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("applying rules: %w (last attempt: %w)", ctx.Err(), err)
		case <-time.After(pause + time.Duration(rand.Int64N(int64(pause)))):
		}
		pause = min(2*pause, time.Second)
	}
}

func applyOnce(ctx context.Context, conn *pgx.Conn, files []File) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("applying rules: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lockKey)); err != nil {
		return fmt.Errorf("applying rules: taking the lock: %w", err)
	}
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+ruleLockTimeout+"'"); err != nil {
		return fmt.Errorf("applying rules: %w", err)
	}
	for _, f := range files {
		if _, err := tx.Exec(ctx, f.SQL); err != nil {
			return fmt.Errorf("applying rule file %s: %w", f.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("applying rules: commit: %w", err)
	}
	return nil
}

// isLockConflict tells whether err is a lock wait that timed out (lock_not_available) or a
// deadlock PostgreSQL resolved by failing the run: both are worth another attempt.
func isLockConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "40P01")
}
