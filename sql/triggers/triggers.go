// Package triggers holds the event rules: one SQL file per application table, each idempotent
// (CREATE OR REPLACE FUNCTION, DROP TRIGGER IF EXISTS + CREATE TRIGGER). They are embedded in
// the binary and applied at start and by `realtimed triggers apply`; REALTIME_TRIGGERS_DIR
// points realtimed at a folder of rule files instead, so rules change without a rebuild.
//
// A run (Run) says, per file, whether it was new, unchanged or replaced live definitions: it
// compares the functions and triggers the database defines before and after each file. It
// can apply, apply only if nothing live would be replaced (a node starting), or roll back (a
// dry run: triggers diff, doctor). Applies are recorded in realtime.rule_files, and what they
// replaced in realtime.rule_history.
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
// not reached yet, and then needs one it has already locked, deadlocks with it. PostgreSQL
// looks for deadlocks in a transaction that has waited deadlock_timeout (1s by default), and
// fails the one that looks: if that is the application's, the application pays for our
// rules. So a run never holds its locks that long: each attempt must commit within half of
// deadlock_timeout (statement_timeout set to what is left before every file, lock waits at
// most ruleLockTimeout), and an attempt that runs out releases everything and tries again
// after a pause, for up to ruleLockRetryFor. An application transaction waits for a run at
// most half of deadlock_timeout, so its deadlock check never finds one.
const (
	ruleLockTimeout  = 200 * time.Millisecond
	ruleLockRetryFor = 30 * time.Second
)

// Mode says what a run may change.
type Mode int

const (
	// Replace applies the rules, replacing live definitions that differ (and saying so in the
	// report): realtimed triggers apply.
	Replace Mode = iota
	// KeepDifferent applies the rules only if that replaces no live definition; otherwise it
	// changes nothing (the report says what differs): serve, unless told to replace.
	KeepDifferent
	// DryRun runs the rules and rolls back: the report says what an apply would do (realtimed
	// triggers diff, doctor).
	DryRun
)

// Options configure a run.
type Options struct {
	Mode Mode
	// Definitions asks for the full definitions of the objects in the report (Object.Definition),
	// to show how they differ; a Replace run reads them anyway, to keep the replaced ones.
	Definitions bool
	// By says who applies, for the records (host, command, version); empty: realtimed.
	By string
}

// Apply runs every rule file of src in one transaction, replacing live definitions that
// differ: either all rules are in place afterwards or none changed. It returns the names of
// the files applied. Commands use Run, whose report says what changed.
func Apply(ctx context.Context, conn *pgx.Conn, src fs.FS) ([]string, error) {
	rules, err := LoadRules(src, "rule files")
	if err != nil {
		return nil, err
	}
	if _, err := Run(ctx, conn, rules, Options{Mode: Replace}); err != nil {
		return nil, err
	}
	names := make([]string, len(rules.Files))
	for i, f := range rules.Files {
		names[i] = f.Name
	}
	return names, nil
}

// Run runs every rule file of rules in one transaction and reports, per file, whether it was
// new, unchanged or replaced live definitions, by comparing the functions and triggers the
// database defines before and after each file (pg_get_functiondef, pg_get_triggerdef). What
// it commits depends on opts.Mode; a committed run records each file in realtime.rule_files
// and keeps the definitions it replaced in realtime.rule_history. When the tables stay locked
// by other transactions, it retries for up to 30 seconds (see ruleLockTimeout).
func Run(ctx context.Context, conn *pgx.Conn, rules Rules, opts Options) (*Report, error) {
	if len(rules.Files) == 0 {
		return nil, fmt.Errorf("rules from %s: no rule files (*.sql) found", rules.Origin)
	}
	if opts.By == "" {
		opts.By = "realtimed"
	}
	deadline := time.Now().Add(ruleLockRetryFor)
	pause := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		rep, err := runOnce(ctx, conn, rules, opts)
		if err == nil {
			return rep, nil
		}
		if !isLockConflict(err) {
			return nil, err
		}
		if time.Now().Add(pause).After(deadline) {
			return nil, fmt.Errorf("applying rules: %w: the tables stayed locked by other transactions, or the rules took "+
				"longer than half of deadlock_timeout to apply (%d attempts in %s): %w", ErrBusy, attempt, ruleLockRetryFor, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("applying rules: %w (last attempt: %w)", ctx.Err(), err)
		case <-time.After(pause + time.Duration(rand.Int64N(int64(pause)))):
		}
		pause = min(2*pause, time.Second)
	}
}

func runOnce(ctx context.Context, conn *pgx.Conn, rules Rules, opts Options) (*Report, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("applying rules: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(lockKey)); err != nil {
		return nil, fmt.Errorf("applying rules: taking the lock: %w", err)
	}
	var deadlockMs int64
	if err := tx.QueryRow(ctx, `SELECT setting::bigint FROM pg_settings WHERE name = 'deadlock_timeout'`).Scan(&deadlockMs); err != nil {
		return nil, fmt.Errorf("applying rules: reading deadlock_timeout: %w", err)
	}
	// What is live, read before any table is locked (catalog reads only).
	definitions := opts.Definitions || opts.Mode == Replace
	before, err := snapshot(ctx, tx, definitions)
	if err != nil {
		return nil, fmt.Errorf("applying rules: %w", err)
	}
	records, err := readRecords(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("applying rules: %w", err)
	}
	rep := &Report{Origin: rules.Origin, LiveOnly: liveOnly(records, rules)}
	track := newTracker(before)
	budget := time.Duration(deadlockMs) * time.Millisecond / 2
	start := time.Now()
	for _, f := range rules.Files {
		left := budget - time.Since(start)
		if left < time.Millisecond {
			return nil, fmt.Errorf("applying rule file %s: %w", f.Name, errAttemptTooLong)
		}
		if err := limitStatements(ctx, tx, left); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, f.SQL); err != nil {
			return nil, fmt.Errorf("applying rule file %s: %w", f.Name, err)
		}
		changed, gone, err := changedByThisTransaction(ctx, tx, opts.Definitions, track.watched())
		if err != nil {
			return nil, fmt.Errorf("applying rule file %s: %w", f.Name, err)
		}
		var live *Record
		if r, ok := records[f.Name]; ok {
			live = &r
		}
		rep.Files = append(rep.Files, track.file(f, live, changed, gone))
	}
	if opts.Mode == DryRun || (opts.Mode == KeepDifferent && rep.Count(Replaced) > 0) {
		return rep, nil // rolled back
	}
	if err := limitStatements(ctx, tx, max(budget-time.Since(start), time.Millisecond)); err != nil {
		return nil, err
	}
	if err := writeRecords(ctx, tx, rules, rep, opts.By); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("applying rules: commit: %w", err)
	}
	rep.Committed = true
	return rep, nil
}

// limitStatements bounds the transaction's next statements and lock waits to left.
func limitStatements(ctx context.Context, tx pgx.Tx, left time.Duration) error {
	// set_config(…, true) is SET LOCAL: it ends with the transaction.
	if _, err := tx.Exec(ctx, `SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)`,
		fmt.Sprint(left.Milliseconds()), fmt.Sprint(min(left, ruleLockTimeout).Milliseconds())); err != nil {
		return fmt.Errorf("applying rules: %w", err)
	}
	return nil
}

// ErrBusy is returned by Apply when no attempt could finish within its time budget for
// ruleLockRetryFor (30s): other transactions kept the tables locked, or the rule files are too
// slow to apply.
var ErrBusy = errors.New("rules not applied")

// errAttemptTooLong ends an attempt that used up its time before its last file.
var errAttemptTooLong = errors.New("this attempt ran out of time (half of deadlock_timeout)")

// isLockConflict tells whether err ended an attempt in a way worth another one: a lock wait
// that timed out (lock_not_available), a statement cut by the attempt's time budget
// (query_canceled), a deadlock PostgreSQL resolved by failing the run, or errAttemptTooLong.
func isLockConflict(err error) bool {
	if errors.Is(err, errAttemptTooLong) {
		return true
	}
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "55P03" || pgErr.Code == "57014" || pgErr.Code == "40P01")
}
