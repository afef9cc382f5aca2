package walsource

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/listener"
)

// Channel is the NOTIFY channel the appended batches wake the nodes' listeners on.
const Channel = "realtime"

// maxNotify is the largest notification payload sent: NOTIFY refuses 8000 bytes and more.
const maxNotify = 7999

// pgLSNOID is pg_lsn's type OID; its binary form is a big-endian uint64, like int8's.
const pgLSNOID = 3220

// registerLSN lets conn send pg_lsn values (as int64) in COPY.
func registerLSN(conn *pgx.Conn) {
	conn.TypeMap().RegisterType(&pgtype.Type{Name: "pg_lsn", OID: pgLSNOID, Codec: pgtype.Int8Codec{}})
}

// appended says what one append did.
type appended struct {
	events   int           // events added to realtime.events
	through  int64         // the last position they took (0 when none)
	endLSN   pglogrepl.LSN // the slot may be confirmed up to here
	lastTime time.Time     // commit time of the last transaction appended
}

// appendBatch adds the events of txns (in commit order) to realtime.events in one
// transaction: under the stream's order lock, with positions from realtime.events_pos_seq,
// skipping transactions at or below realtime.settings 'wal_appended_lsn' (appended before the
// slot's position was confirmed: a replay), and wakes every node with one NOTIFY.
func appendBatch(ctx context.Context, conn *pgx.Conn, txns []*txn) (appended, error) {
	res := appended{endLSN: txns[len(txns)-1].endLSN, lastTime: txns[len(txns)-1].committed}
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var mark string
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, cluster.StreamOrderLock); err != nil {
			return fmt.Errorf("taking the stream order lock: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT value FROM realtime.settings WHERE key = 'wal_appended_lsn'`).Scan(&mark); err != nil {
			return fmt.Errorf("reading wal_appended_lsn (is migration 0060 applied?): %w", err)
		}
		done, err := pglogrepl.ParseLSN(mark)
		if err != nil {
			return fmt.Errorf("realtime.settings wal_appended_lsn %q: %w", mark, err)
		}
		fresh := txns[:0:0]
		n := 0
		for _, t := range txns {
			if t.commitLSN > done && len(t.events) > 0 {
				fresh = append(fresh, t)
				n += len(t.events)
			}
		}
		if n == 0 {
			return nil
		}
		rows, err := reserve(ctx, tx, fresh, n)
		if err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"realtime", "events"}, rows.columns, pgx.CopyFromRows(rows.copy)); err != nil {
			return fmt.Errorf("appending %d events: %w", n, err)
		}
		last := fresh[len(fresh)-1]
		if _, err := tx.Exec(ctx, `UPDATE realtime.settings SET value = $1 WHERE key = 'wal_appended_lsn'`, last.commitLSN.String()); err != nil {
			return fmt.Errorf("recording wal_appended_lsn: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, notification(rows)); err != nil {
			return fmt.Errorf("notifying the batch: %w", err)
		}
		res.events, res.through = n, rows.through
		return nil
	})
	if err != nil {
		return appended{}, err
	}
	return res, nil
}

// batchRows are a batch's rows for COPY and, when they fit in a notification, its envelopes.
type batchRows struct {
	columns []string
	copy    [][]any
	envs    []*listener.Envelope // nil: the notification is a reference
	through int64
}

// reserve draws n positions (contiguous: every position is drawn under the order lock this
// transaction holds) and lays out the rows. The rows' ids are drawn here only when the
// envelopes will travel in the notification; otherwise the table's identity draws them.
func reserve(ctx context.Context, tx pgx.Tx, txns []*txn, n int) (batchRows, error) {
	var first int64
	if err := tx.QueryRow(ctx, `SELECT CASE WHEN $1::bigint = 1 THEN s ELSE setval('realtime.events_pos_seq', s + $1::bigint - 1) - $1::bigint + 1 END
		FROM (SELECT nextval('realtime.events_pos_seq') AS s) x`, n).Scan(&first); err != nil {
		return batchRows{}, fmt.Errorf("drawing %d positions: %w", n, err)
	}
	rows := batchRows{copy: make([][]any, 0, n), through: first + int64(n) - 1,
		columns: []string{"pos", "event", "users", "rooms", "payload", "committed_at", "commit_lsn", "commit_index"}}
	var ids []int64
	if fits(txns) {
		if err := tx.QueryRow(ctx, `SELECT array_agg(nextval(pg_get_serial_sequence('realtime.events', 'id')) ORDER BY g)
			FROM generate_series(1, $1::int) g`, n).Scan(&ids); err != nil {
			return batchRows{}, fmt.Errorf("drawing %d ids: %w", n, err)
		}
		rows.columns = append([]string{"id"}, rows.columns...)
		rows.envs = make([]*listener.Envelope, 0, n)
	}
	pos := first
	for _, t := range txns {
		for i, e := range t.events {
			row := []any{pos, e.Event, nonNil(e.Users), nonNil(e.Rooms), []byte(e.Payload), t.committed, int64(t.commitLSN), int32(i)}
			if ids != nil {
				id := ids[len(rows.copy)]
				row = append([]any{id}, row...)
				rows.envs = append(rows.envs, &listener.Envelope{ID: id, Pos: pos, Event: e.Event, Users: nonNil(e.Users),
					Rooms: nonNil(e.Rooms), Payload: e.Payload, TS: t.committed.UnixMicro()})
			}
			rows.copy = append(rows.copy, row)
			pos++
		}
	}
	return rows, nil
}

// fits estimates whether the batch's envelopes fit in one notification (id, pos and ts take at
// most 20 digits each).
func fits(txns []*txn) bool {
	size := len(`{"batch":[]}`)
	for _, t := range txns {
		for _, e := range t.events {
			size += len(`{"id":,"pos":,"event":"","users":[],"rooms":[],"payload":,"ts":,"ref":false},`) + 60 + len(e.Event) + len(e.Payload)
			for _, r := range e.Users {
				size += len(r) + 3
			}
			for _, r := range e.Rooms {
				size += len(r) + 3
			}
			if size > maxNotify {
				return false
			}
		}
	}
	return true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// notification is the batch's NOTIFY payload: its envelopes when they fit, else a reference
// to its last position (listener.Batch).
func notification(rows batchRows) string {
	ref := fmt.Sprintf(`{"through":%d}`, rows.through)
	if rows.envs == nil {
		return ref
	}
	b, err := json.Marshal(listener.Batch{Batch: rows.envs})
	if err != nil || len(b) > maxNotify {
		return ref
	}
	return string(b)
}
