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
// slot's position was confirmed: a replay), and wakes every node with one NOTIFY. It takes
// three round trips whatever the batch's size: the opening (BEGIN, the lock, the mark, the
// positions and ids, pipelined), the COPY, and the closing (the mark, the NOTIFY, COMMIT,
// pipelined). Positions and ids are drawn for every event of txns; those of a replayed
// transaction stay unused (a gap, which listeners read past).
func appendBatch(ctx context.Context, conn *pgx.Conn, txns []*txn) (appended, error) {
	res := appended{endLSN: txns[len(txns)-1].endLSN, lastTime: txns[len(txns)-1].committed}
	total := 0
	for _, t := range txns {
		total += len(t.events)
	}
	if total == 0 {
		return res, nil
	}
	d, err := open(ctx, conn, total, fits(txns))
	if err != nil {
		return appended{}, abort(conn, err)
	}
	fresh, n := after(txns, d.mark)
	if n == 0 {
		return res, abort(conn, nil)
	}
	rows := layout(fresh, n, d.first, d.ids)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"realtime", "events"}, rows.columns, pgx.CopyFromRows(rows.copy)); err != nil {
		return appended{}, abort(conn, fmt.Errorf("appending %d events: %w", n, err))
	}
	if err := closeBatch(ctx, conn, fresh[len(fresh)-1].commitLSN, notification(rows)); err != nil {
		return appended{}, abort(conn, err)
	}
	res.events, res.through = n, rows.through
	return res, nil
}

// drawn is what the opening of an append read and reserved.
type drawn struct {
	mark  pglogrepl.LSN // realtime.settings 'wal_appended_lsn'
	first int64         // the first of the positions drawn
	ids   []int64       // the ids drawn, or nil (the table's identity draws them)
}

// open begins the append's transaction, takes the stream's order lock, reads the mark and
// draws n positions (contiguous: every position is drawn under the lock) and, withIDs, n ids:
// one round trip.
func open(ctx context.Context, conn *pgx.Conn, n int, withIDs bool) (drawn, error) {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, cluster.StreamOrderLock)
	b.Queue(`SELECT value FROM realtime.settings WHERE key = 'wal_appended_lsn'`)
	b.Queue(`SELECT CASE WHEN $1::bigint = 1 THEN s ELSE setval('realtime.events_pos_seq', s + $1::bigint - 1) - $1::bigint + 1 END,
		CASE WHEN $2::bool THEN (SELECT array_agg(nextval(pg_get_serial_sequence('realtime.events', 'id')) ORDER BY g)
			FROM generate_series(1, $1::int) g) END
		FROM (SELECT nextval('realtime.events_pos_seq') AS s) x`, n, withIDs)
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	var d drawn
	var mark string
	if _, err := br.Exec(); err != nil {
		return d, fmt.Errorf("beginning the append: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return d, fmt.Errorf("taking the stream order lock: %w", err)
	}
	if err := br.QueryRow().Scan(&mark); err != nil {
		return d, fmt.Errorf("reading wal_appended_lsn (is migration 0060 applied?): %w", err)
	}
	if err := br.QueryRow().Scan(&d.first, &d.ids); err != nil {
		return d, fmt.Errorf("drawing %d positions: %w", n, err)
	}
	lsn, err := pglogrepl.ParseLSN(mark)
	if err != nil {
		return d, fmt.Errorf("realtime.settings wal_appended_lsn %q: %w", mark, err)
	}
	d.mark = lsn
	return d, br.Close()
}

// after returns the transactions of txns with events committed after mark, and how many
// events they hold.
func after(txns []*txn, mark pglogrepl.LSN) ([]*txn, int) {
	fresh := txns[:0:0]
	n := 0
	for _, t := range txns {
		if t.commitLSN > mark && len(t.events) > 0 {
			fresh = append(fresh, t)
			n += len(t.events)
		}
	}
	return fresh, n
}

// closeBatch moves the mark to lsn, sends the notification and commits: one round trip.
func closeBatch(ctx context.Context, conn *pgx.Conn, lsn pglogrepl.LSN, payload string) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE realtime.settings SET value = $1 WHERE key = 'wal_appended_lsn'`, lsn.String())
	b.Queue(`SELECT pg_notify($1, $2)`, Channel, payload)
	b.Queue(`COMMIT`)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("recording wal_appended_lsn, notifying and committing the batch: %w", err)
	}
	return nil
}

// abort rolls the append's transaction back (when there is one) and returns err.
func abort(conn *pgx.Conn, err error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, rbErr := conn.Exec(ctx, `ROLLBACK`); rbErr != nil && err == nil {
		return fmt.Errorf("rolling back an append with nothing new: %w", rbErr)
	}
	return err
}

// batchRows are a batch's rows for COPY and, when they fit in a notification, its envelopes.
type batchRows struct {
	columns []string
	copy    [][]any
	envs    []*listener.Envelope // nil: the notification is a reference
	through int64
}

// layout lays out the rows of the n events of txns, with positions from first on and, when
// ids were drawn, those ids (then the envelopes travel in the notification).
func layout(txns []*txn, n int, first int64, ids []int64) batchRows {
	rows := batchRows{copy: make([][]any, 0, n), through: first + int64(n) - 1,
		columns: []string{"pos", "event", "users", "rooms", "payload", "committed_at", "commit_lsn", "commit_index"}}
	if ids != nil {
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
	return rows
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
