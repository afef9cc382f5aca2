package doctor

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/walsource"
)

// Slot lag thresholds: how far (bytes of WAL) the slot's confirmed position may trail the
// server's before the check warns, and fails. A node that keeps up confirms within a batch.
const (
	slotLagWarn = 64 << 20
	slotLagFail = 1 << 30
)

func init() {
	Register(Check{Name: "slot", Order: 33, NeedsDatabase: true, Applies: walSource, Run: checkSlot})
}

// slotState is what pg_replication_slots says about the wal source's slot.
type slotState struct {
	Name     string
	Exists   bool
	Plugin   string
	Database string // the database the slot decodes
	Active   bool
	// WALStatus is pg_replication_slots.wal_status: reserved, extended, unreserved or lost.
	WALStatus string
	// Lag is the WAL between the server's position and the slot's confirmed one; Retained the
	// WAL the slot keeps (from its restart position).
	Lag, Retained int64
	// Safe is the WAL that can still be written before the slot is invalidated (-1: no limit,
	// max_slot_wal_keep_size = -1).
	Safe int64
}

func checkSlot(ctx context.Context, env *Env) Result {
	pool, _ := env.Pool(ctx)
	st := slotState{Name: walSlotName(env)}
	var db string
	err := pool.QueryRow(ctx, `
		SELECT s.plugin, coalesce(s.database, ''), current_database(), s.active, coalesce(s.wal_status, ''),
		       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::bigint,
		       coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn), 0)::bigint,
		       coalesce(s.safe_wal_size, -1)
		FROM pg_replication_slots s WHERE s.slot_name = $1`, st.Name).
		Scan(&st.Plugin, &st.Database, &db, &st.Active, &st.WALStatus, &st.Lag, &st.Retained, &st.Safe)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return slotVerdict(st, "")
	case err != nil:
		return Failf("reading pg_replication_slots: %v", err)
	}
	st.Exists = true
	return slotVerdict(st, db)
}

// slotVerdict judges the slot of the database named current.
func slotVerdict(st slotState, current string) Result {
	drop := fmt.Sprintf("SELECT pg_drop_replication_slot('%s')", st.Name)
	switch {
	case !st.Exists:
		return Failf("no replication slot %s: a node creates it when it starts with REALTIME_SOURCE=wal (is one running?)", st.Name)
	case st.Database != current:
		return Failf("replication slot %s decodes database %s, not %s: set REALTIME_WAL_SLOT to a name of this database's own", st.Name, st.Database, current)
	case st.Plugin != walsource.Plugin:
		return Failf("replication slot %s uses the plugin %s, not %s: set REALTIME_WAL_SLOT to another name", st.Name, st.Plugin, walsource.Plugin)
	case st.WALStatus == "lost":
		return Failf("replication slot %s was invalidated (it fell behind by more than max_slot_wal_keep_size): events committed in the removed WAL are lost "+
			"and no event reaches the stream until it is dropped. Recover: %s; realtimed then creates a new one", st.Name, drop)
	case st.Lag >= slotLagFail:
		return Failf("replication slot %s is %s behind (fail at %s): %s", st.Name, bytesText(st.Lag), bytesText(slotLagFail), slotAdvice(st))
	case st.Safe >= 0 && st.Safe < slotLagWarn:
		return Failf("replication slot %s is %s from being invalidated (max_slot_wal_keep_size): %s", st.Name, bytesText(st.Safe), slotAdvice(st))
	case st.Lag >= slotLagWarn:
		return Warnf("replication slot %s is %s behind (warn at %s): %s", st.Name, bytesText(st.Lag), bytesText(slotLagWarn), slotAdvice(st))
	case !st.Active:
		return Warnf("replication slot %s is not being read (%s behind, WAL retained %s): no realtimed node with REALTIME_SOURCE=wal is running. "+
			"An abandoned slot keeps WAL forever; if realtimed is gone for good, %s", st.Name, bytesText(st.Lag), bytesText(st.Retained), drop)
	case st.WALStatus == "unreserved":
		return Warnf("replication slot %s retains more WAL than max_wal_size (%s): it will be invalidated at the next checkpoints unless it catches up", st.Name, bytesText(st.Retained))
	}
	return Passf("replication slot %s is read by a node, %s behind (WAL %s)", st.Name, bytesText(st.Lag), st.WALStatus)
}

func slotAdvice(st slotState) string {
	if !st.Active {
		return "no node is reading it: start realtimed with REALTIME_SOURCE=wal"
	}
	return "a node reads it but does not keep up: see realtimed_wal_slot_lag_bytes and the reader's logs"
}

// bytesText writes a byte count for people.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
