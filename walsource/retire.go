package walsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/realtimed/realtimed/internal/pause"
)

// errRetired ends a retiring reader's stream once the slot can be dropped.
var errRetired = errors.New("walsource: the slot is drained")

// retirement tracks when a slot left by the wal source may be dropped after a switch back to
// notify. Transactions that read 'wal' before the switch may still be running and commit a
// message later: the slot is drained until every transaction that was running when the
// reader was elected (after the switch) has ended, and then up to the WAL written by then.
type retirement struct {
	waiting []string      // virtual transaction ids still to end
	target  pglogrepl.LSN // drained once confirmed reaches it (0: not known yet)
}

// newRetirement records the transactions running now (but the reader's own connections').
func newRetirement(ctx context.Context, conn *pgx.Conn, replicationPID uint32) (*retirement, error) {
	var vxids []string
	err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(virtualxid::text), '{}') FROM pg_locks
		WHERE locktype = 'virtualxid' AND pid <> pg_backend_pid() AND pid <> $1`, int32(replicationPID)).Scan(&vxids)
	if err != nil {
		return nil, fmt.Errorf("listing running transactions: %w", err)
	}
	return &retirement{waiting: vxids}, nil
}

// drained reports whether the slot holds nothing more: the transactions have ended and the
// confirmed position has reached the WAL written after.
func (r *retirement) drained(ctx context.Context, conn *pgx.Conn, confirmed pglogrepl.LSN) (bool, error) {
	if r.target == 0 {
		var running int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'virtualxid' AND virtualxid::text = ANY($1)`,
			r.waiting).Scan(&running); err != nil {
			return false, fmt.Errorf("checking running transactions: %w", err)
		}
		if running > 0 {
			return false, nil
		}
		var lsn string
		if err := conn.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&lsn); err != nil {
			return false, fmt.Errorf("reading the WAL position: %w", err)
		}
		target, err := pglogrepl.ParseLSN(lsn)
		if err != nil {
			return false, err
		}
		r.target = target
	}
	return confirmed >= r.target, nil
}

// dropSlot drops the drained slot, unless the source was switched back to wal meanwhile (the
// row lock on the setting orders this with SetSource). It reports whether it dropped it.
func dropSlot(ctx context.Context, conn *pgx.Conn, slot string) (bool, error) {
	dropped := false
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var source string
			if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT value FROM realtime.settings WHERE key = 'source' FOR UPDATE), 'notify')`).Scan(&source); err != nil {
				return err
			}
			if source != SourceNotify {
				return nil
			}
			st, err := ReadSlot(ctx, tx, slot)
			if err != nil || !st.Exists {
				return err
			}
			if st.ActivePID != 0 {
				return errSlotActive
			}
			if _, err := tx.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, slot); err != nil {
				return err
			}
			dropped = true
			return nil
		})
		if !errors.Is(err, errSlotActive) || time.Now().After(deadline) {
			if err != nil {
				return false, fmt.Errorf("dropping the drained slot %q: %w", slot, err)
			}
			return dropped, nil
		}
		if !pause.For(ctx, 100*time.Millisecond) {
			return false, ctx.Err()
		}
	}
}

var errSlotActive = errors.New("the slot is still streamed")
