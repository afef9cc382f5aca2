package walsource

import (
	"context"
	"encoding/json"
	"errors"
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
	mark     pglogrepl.LSN // 'wal_appended_lsn' once the append committed
	head     int64         // the stream's highest position once the append committed
	source   string        // realtime.settings 'source', read under the order lock
	ahead    bool          // the appending connection holds cluster.StreamAheadLock
	mismatch bool          // a transaction offered ahead took another position (a bug: logged)
}

// aheadRequest is what an append asks about cluster.StreamAheadLock: take it (when the source is
// wal), or release it (when the source is not wal and nothing offered ahead remains unappended).
type aheadRequest struct {
	take, holding, release bool
}

// appendBatch adds the events of txns (in commit order) to realtime.events in one
// transaction, under the stream's order lock, and wakes every node with one NOTIFY.
// Transactions at or below realtime.settings 'wal_appended_lsn' (appended before the slot's
// position was confirmed: a replay) are passed over; the others take the positions after the
// stream's highest (or highest pruned) one, in commit order, so that whoever appends them, and
// however often, numbers them the same: the positions the reader offered ahead (txn.pos) are
// the ones they take. It takes three round trips whatever the batch's size: the opening (BEGIN,
// the lock, the mark, the base position and the ids, pipelined), the COPY, and the closing (the
// mark, the sequence, the NOTIFY, COMMIT, pipelined).
func appendBatch(ctx context.Context, conn *pgx.Conn, txns []*txn, req aheadRequest) (appended, error) {
	res := appended{endLSN: txns[len(txns)-1].endLSN, lastTime: txns[len(txns)-1].committed, ahead: req.holding}
	total := 0
	for _, t := range txns {
		total += len(t.events)
	}
	if total == 0 && !req.take && !req.release {
		return res, nil
	}
	d, err := open(ctx, conn, total, fits(txns), req)
	if err != nil {
		return appended{}, abort(conn, err)
	}
	res.mark, res.source, res.ahead, res.head = d.mark, d.source, d.ahead, d.base
	fresh, n := after(txns, d.mark)
	if n == 0 {
		return res, abort(conn, nil)
	}
	rows := layout(fresh, n, d.base+1, d.ids)
	res.mismatch = rows.mismatch
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"realtime", "events"}, rows.columns, pgx.CopyFromRows(rows.copy)); err != nil {
		return appended{}, abort(conn, fmt.Errorf("appending %d events: %w", n, err))
	}
	last := fresh[len(fresh)-1].commitLSN
	if err := closeBatch(ctx, conn, last, rows.through, notification(rows)); err != nil {
		return appended{}, abort(conn, err)
	}
	res.events, res.through, res.mark, res.head = n, rows.through, last, rows.through
	return res, nil
}

// drawn is what the opening of an append read and reserved.
type drawn struct {
	mark   pglogrepl.LSN // realtime.settings 'wal_appended_lsn'
	base   int64         // the stream's highest position, appended or pruned
	source string        // realtime.settings 'source'
	ahead  bool          // the connection holds cluster.StreamAheadLock
	ids    []int64       // the ids drawn, or nil (the table's identity draws them)
}

// open begins the append's transaction, takes the stream's order lock, reads the mark, the base
// position and the source, takes or releases cluster.StreamAheadLock as req asks and, withIDs,
// draws n ids: one round trip.
func open(ctx context.Context, conn *pgx.Conn, n int, withIDs bool, req aheadRequest) (drawn, error) {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, cluster.StreamOrderLock)
	b.Queue(`SELECT mark, base, source,
		CASE WHEN source = 'wal' AND $1::bool THEN pg_try_advisory_lock($4)
		     WHEN source IS DISTINCT FROM 'wal' AND $2::bool AND $3::bool THEN NOT pg_advisory_unlock($4)
		     ELSE $2::bool END
		FROM (SELECT (SELECT value FROM realtime.settings WHERE key = 'wal_appended_lsn') AS mark,
			greatest((SELECT coalesce(max(pos), 0) FROM realtime.events),
			         (SELECT coalesce(max(value::bigint), 0) FROM realtime.settings WHERE key = 'pruned_through')) AS base,
			(SELECT value FROM realtime.settings WHERE key = 'source') AS source) s`,
		req.take && !req.holding, req.holding, req.release, cluster.StreamAheadLock)
	b.Queue(`SELECT CASE WHEN $2::bool AND $1::int > 0 THEN (SELECT array_agg(nextval(pg_get_serial_sequence('realtime.events', 'id')) ORDER BY g)
			FROM generate_series(1, $1::int) g) END`, n, withIDs)
	br := conn.SendBatch(ctx, b)
	defer br.Close()
	var d drawn
	var mark, source *string
	if _, err := br.Exec(); err != nil {
		return d, fmt.Errorf("beginning the append: %w", err)
	}
	if _, err := br.Exec(); err != nil {
		return d, fmt.Errorf("taking the stream order lock: %w", err)
	}
	if err := br.QueryRow().Scan(&mark, &d.base, &source, &d.ahead); err != nil {
		return d, fmt.Errorf("reading wal_appended_lsn and the stream's head: %w", err)
	}
	if err := br.QueryRow().Scan(&d.ids); err != nil {
		return d, fmt.Errorf("drawing %d ids: %w", n, err)
	}
	if mark == nil {
		return d, errors.New("realtime.settings has no wal_appended_lsn: is migration 0060 applied?")
	}
	if source != nil {
		d.source = *source
	}
	lsn, err := pglogrepl.ParseLSN(*mark)
	if err != nil {
		return d, fmt.Errorf("realtime.settings wal_appended_lsn %q: %w", *mark, err)
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

// closeBatch moves the mark to lsn, the position sequence to through (the notify source's
// on_commit draws from it: its next position follows the stream's), sends the notification and
// commits: one round trip.
func closeBatch(ctx context.Context, conn *pgx.Conn, lsn pglogrepl.LSN, through int64, payload string) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE realtime.settings SET value = $1 WHERE key = 'wal_appended_lsn'`, lsn.String())
	b.Queue(`SELECT setval('realtime.events_pos_seq', $1)`, through)
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
	columns  []string
	copy     [][]any
	envs     []*listener.Envelope // nil: the notification is a reference
	through  int64
	mismatch bool // a transaction offered ahead at another position
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
		if t.pos != 0 && t.pos != pos {
			rows.mismatch = true
		}
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

// notification is the batch's NOTIFY payload: its envelopes and last position when they fit,
// else a reference to its last position (listener.Batch).
func notification(rows batchRows) string {
	ref := fmt.Sprintf(`{"through":%d}`, rows.through)
	if rows.envs == nil {
		return ref
	}
	b, err := json.Marshal(listener.Batch{Batch: rows.envs, Last: rows.through})
	if err != nil || len(b) > maxNotify {
		return ref
	}
	return string(b)
}
