package walsource

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
)

// Plugin is the output plugin of the slot: pgoutput, built into PostgreSQL (10 and later), so
// no extension to install, and it emits logical messages (messages 'true', PostgreSQL 14 and
// later). test_decoding also emits them, but as text meant for tests; wal2json is an
// extension that managed databases do not all offer.
const Plugin = "pgoutput"

// Publication is the publication pgoutput is started with (migration 0060): it publishes no
// table, so that only the logical messages are streamed.
const Publication = "realtime_messages"

// DefaultSlot is the slot's name when REALTIME_WAL_SLOT is empty.
const DefaultSlot = "realtimed"

// ApplicationName is the replication connection's application_name, to tell realtimed's
// walsenders from others in pg_stat_activity.
const ApplicationName = "realtimed-wal"

// ErrSlotInvalidated is returned when PostgreSQL invalidated the slot (wal_status 'lost': it
// removed WAL the slot still needed, max_slot_wal_keep_size). The events in the lost WAL are
// gone; docs/delivery.md says how to recover (drop the slot; realtimed creates a new one).
var ErrSlotInvalidated = errors.New("walsource: the replication slot was invalidated (wal_status lost)")

// Querier runs SQL: a pool, a connection or a transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Slot is what pg_replication_slots says of the slot.
type Slot struct {
	Exists    bool
	Plugin    string
	Database  string
	Here      bool   // the slot belongs to the connection's database
	WALStatus string // reserved, extended, unreserved or lost
	ActivePID int32  // the walsender streaming it, 0 when none
	Confirmed pglogrepl.LSN
	LagBytes  int64 // pg_current_wal_lsn() - confirmed_flush_lsn
	Behind    bool  // WAL was flushed past the confirmed position
}

// ReadSlot reads the slot's state.
func ReadSlot(ctx context.Context, q Querier, name string) (Slot, error) {
	s := Slot{}
	var confirmed *string
	var lag *int64
	var behind *bool
	err := q.QueryRow(ctx, `SELECT plugin, coalesce(database::text, ''), coalesce(wal_status, ''), coalesce(active_pid, 0),
			confirmed_flush_lsn::text, (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint,
			pg_current_wal_flush_lsn() > confirmed_flush_lsn, database = current_database()
		FROM pg_replication_slots WHERE slot_name = $1`, name).
		Scan(&s.Plugin, &s.Database, &s.WALStatus, &s.ActivePID, &confirmed, &lag, &behind, &s.Here)
	if errors.Is(err, pgx.ErrNoRows) {
		return Slot{}, nil
	}
	if err != nil {
		return Slot{}, fmt.Errorf("reading replication slot %q: %w", name, err)
	}
	s.Exists = true
	if confirmed != nil {
		if s.Confirmed, err = pglogrepl.ParseLSN(*confirmed); err != nil {
			return Slot{}, fmt.Errorf("slot %q confirmed_flush_lsn %q: %w", name, *confirmed, err)
		}
	}
	if lag != nil {
		s.LagBytes = *lag
	}
	s.Behind = behind != nil && *behind
	return s, nil
}

// EnsureSlot creates the slot when it does not exist (a persistent logical slot with
// pgoutput, in the connection's database) and checks the one that does: same plugin, same
// database, not invalidated. Creating a slot waits for the transactions running at that moment
// to end.
func EnsureSlot(ctx context.Context, q Querier, name string) error {
	var db string
	if err := q.QueryRow(ctx, `SELECT current_database()`).Scan(&db); err != nil {
		return fmt.Errorf("reading the database's name: %w", err)
	}
	s, err := ReadSlot(ctx, q, name)
	if err != nil {
		return err
	}
	if !s.Exists {
		var created string
		err := q.QueryRow(ctx, `SELECT slot_name::text FROM pg_create_logical_replication_slot($1, $2)`, name, Plugin).Scan(&created)
		if err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("creating replication slot %q: %w", name, err)
		}
		return EnsureSlot(ctx, q, name)
	}
	switch {
	case s.Plugin != Plugin:
		return fmt.Errorf("replication slot %q uses the plugin %q, not %s: name another slot (REALTIME_WAL_SLOT)", name, s.Plugin, Plugin)
	case s.Database != db:
		return fmt.Errorf("replication slot %q belongs to database %q, not %q: name another slot (REALTIME_WAL_SLOT)", name, s.Database, db)
	case s.WALStatus == "lost":
		return fmt.Errorf("%w: slot %q; events committed in the removed WAL are lost. Recover: SELECT pg_drop_replication_slot('%s'); realtimed then creates a new one", ErrSlotInvalidated, name, name)
	}
	return nil
}

// Preflight checks what the wal source needs of the database and the role: wal_level logical
// and the REPLICATION attribute (or superuser). Its error is one line naming what is missing.
func Preflight(ctx context.Context, q Querier) error {
	var level string
	var replication bool
	err := q.QueryRow(ctx, `SELECT current_setting('wal_level'), rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user`).
		Scan(&level, &replication)
	if err != nil {
		return fmt.Errorf("REALTIME_SOURCE=wal: checking wal_level and the role: %w", err)
	}
	var missing []string
	if level != "logical" {
		missing = append(missing, fmt.Sprintf("wal_level is %s, it must be logical (ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)", level))
	}
	if !replication {
		missing = append(missing, "the role lacks the REPLICATION attribute (ALTER ROLE … REPLICATION)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("REALTIME_SOURCE=wal: %s", strings.Join(missing, "; and "))
	}
	return nil
}
