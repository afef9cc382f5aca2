package migrations

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a *pgx.Conn, a *pgxpool.Pool or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Status is a set's state in a database, read without changing anything (golang-migrate
// itself creates its version table when it connects).
type Status struct {
	Set     Set
	Applied uint // the applied version (0: none)
	Dirty   bool // a migration failed half-way
	Latest  uint // the newest version this binary has
}

// Pending reports whether this binary has migrations the database lacks.
func (s Status) Pending() bool { return s.Applied < s.Latest }

// Unknown reports whether the database is at a version this binary does not have.
func (s Status) Unknown() bool {
	names, err := Names(s.Set)
	return err == nil && s.Applied != 0 && names[s.Applied] == ""
}

// ReadStatus reads a set's applied version from its version table (in the connection's
// current schema, where golang-migrate keeps it).
func ReadStatus(ctx context.Context, q Querier, set Set) (Status, error) {
	st := Status{Set: set}
	latest, err := Latest(set)
	if err != nil {
		return st, err
	}
	st.Latest = latest
	var table *string
	if err := q.QueryRow(ctx, `SELECT to_regclass(format('%I.%I', current_schema(), $1::text))::text`, set.Table).Scan(&table); err != nil {
		return st, fmt.Errorf("migrations %s: looking for %s: %w", set.Name, set.Table, err)
	}
	if table == nil {
		return st, nil // never migrated
	}
	var version int64
	err = q.QueryRow(ctx, `SELECT version, dirty FROM `+*table+` LIMIT 1`).Scan(&version, &st.Dirty)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("migrations %s: reading %s: %w", set.Name, *table, err)
	}
	if version > 0 {
		st.Applied = uint(version)
	}
	return st, nil
}
