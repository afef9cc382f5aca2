package walsource_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/realtimed/realtimed/walsource"
)

// TestPublishContractInWALMode: realtime.publish keeps its contract with the wal source.
// Rolled back, no recipients or over the limit: nothing reaches the stream; the error is the
// same; committed: exactly the events, in order, with their commit LSN and index.
func TestPublishContractInWALMode(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	ctx := context.Background()
	e.startReader(t, e.readerConfig("walsource-test-reader"))

	// No row, no lock, no notification in the writer's transaction: only the message.
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		var ret *int64
		if err := tx.QueryRow(ctx, `SELECT realtime.publish('a.rolledback', ARRAY['u1'], '{}', '{"n":0}')`).Scan(&ret); err != nil {
			return err
		}
		if ret == nil || *ret <= 0 {
			t.Errorf("publish returned %v in wal mode, want the message's LSN", ret)
		}
		var rows, locks int
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM realtime.events),
			(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid())`).Scan(&rows, &locks); err != nil {
			return err
		}
		if rows != 0 || locks != 0 {
			t.Errorf("the writer's transaction holds %d outbox rows and %d advisory locks, want none", rows, locks)
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatal(err)
	}
	var ret *int64
	if err := e.pool.QueryRow(ctx, `SELECT realtime.publish('a.nobody', '{}', ARRAY[NULL], '{}')`).Scan(&ret); err != nil || ret != nil {
		t.Fatalf("publish to nobody = %v, %v; want NULL", ret, err)
	}
	_, err = e.pool.Exec(ctx, `SELECT realtime.publish('', ARRAY['u1'], '{}', '{}')`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22023" {
		t.Fatalf("empty name: %v, want SQLSTATE 22023", err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE realtime.settings SET value = '100' WHERE key = 'max_event_bytes'`); err != nil {
		t.Fatal(err)
	}
	_, err = e.pool.Exec(ctx, `SELECT realtime.publish('a.big', ARRAY['u1'], '{}', jsonb_build_object('x', repeat('x', 200)))`)
	if !errors.As(err, &pgErr) || pgErr.Code != "54000" || pgErr.Hint == "" {
		t.Fatalf("over the limit: %v, want SQLSTATE 54000 with a hint", err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE realtime.settings SET value = '1048576' WHERE key = 'max_event_bytes'`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `SELECT realtime.publish('a.one', ARRAY['u1'], '{}', '{"n":1}'), realtime.publish('a.two', '{}', ARRAY['room'], '{"n":2}')`); err != nil {
		t.Fatal(err)
	}
	e.waitCount(t, 2)
	rows := e.rows(t)
	if rows[0].event != "a.one" || rows[1].event != "a.two" || rows[1].pos != rows[0].pos+1 {
		t.Fatalf("appended %+v, want a.one then a.two at consecutive positions", rows)
	}
	if rows[0].lsn == nil || rows[1].lsn == nil || *rows[0].lsn != *rows[1].lsn || *rows[0].index != 0 || *rows[1].index != 1 {
		t.Fatalf("commit_lsn/commit_index %v/%v %v/%v, want one commit LSN, indexes 0 and 1", rows[0].lsn, rows[0].index, rows[1].lsn, rows[1].index)
	}
	if rows[0].payload != `{"n": 1}` || strings.Join(rows[0].users, ",") != "u1" {
		t.Fatalf("row %+v, want users u1 and payload {\"n\": 1}", rows[0])
	}
}

// TestCommitOrderManyWriters: 16 writers commit transactions of several events each; the
// stream holds every event once, each transaction's events together and in order, the
// transactions in commit (LSN) order.
func TestCommitOrderManyWriters(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	e.startReader(t, e.readerConfig("walsource-test-reader"))
	const writers, txs, per = 16, 40, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txs {
				_, err := e.pool.Exec(context.Background(), `SELECT realtime.publish('e', ARRAY['u'], '{}', jsonb_build_object('w', $1::int, 'i', $2::int, 'k', k))
					FROM generate_series(0, $3::int - 1) k`, w, i, per)
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	e.waitCount(t, writers*txs*per)
	checkOrder(t, e.rows(t))
}

// checkOrder checks positions increase, commit LSNs never decrease along them, and each
// transaction's indexes run 0, 1, ….
func checkOrder(t *testing.T, rows []row) {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range rows {
		if seen[r.payload] {
			t.Fatalf("event %s appended twice", r.payload)
		}
		seen[r.payload] = true
		if i == 0 {
			continue
		}
		p := rows[i-1]
		// Gaps are allowed (an append that failed drew positions it did not use), not repeats.
		if r.pos <= p.pos {
			t.Fatalf("positions %d then %d", p.pos, r.pos)
		}
		if r.lsn == nil || p.lsn == nil {
			continue
		}
		pl, _ := parseLSN(*p.lsn)
		rl, _ := parseLSN(*r.lsn)
		switch {
		case rl < pl:
			t.Fatalf("position %d (commit %s) after position %d (commit %s): not in commit order", r.pos, *r.lsn, p.pos, *p.lsn)
		case rl == pl && *r.index != *p.index+1:
			t.Fatalf("position %d: index %d after %d in one transaction", r.pos, *r.index, *p.index)
		case rl > pl && *r.index != 0:
			t.Fatalf("position %d: a transaction starts at index %d", r.pos, *r.index)
		}
	}
}

func parseLSN(s string) (uint64, error) {
	var hi, lo uint64
	_, err := fmt.Sscanf(s, "%X/%X", &hi, &lo)
	return hi<<32 | lo, err
}

// TestLargeTransactionAndLargeEvent: one transaction of 10,000 events and one event of 1 MiB
// (no 8000-byte limit on this path) reach the stream whole.
func TestLargeTransactionAndLargeEvent(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	e.startReader(t, e.readerConfig("walsource-test-reader"))
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `SELECT realtime.publish('bulk', ARRAY['u'], '{}', jsonb_build_object('k', k)) FROM generate_series(1, 10000) k`); err != nil {
		t.Fatal(err)
	}
	// 1 MiB of payload text: {"x": "…"} is 9 bytes plus the string.
	if _, err := e.pool.Exec(ctx, `SELECT realtime.publish('big', ARRAY['u'], '{}', jsonb_build_object('x', repeat('x', 1048576 - 9)))`); err != nil {
		t.Fatal(err)
	}
	e.waitCount(t, 10001)
	rows := e.rows(t)
	checkOrder(t, rows)
	if last := rows[len(rows)-1]; last.event != "big" || len(last.payload) != 1048576 {
		t.Fatalf("last event %s of %d bytes, want big of 1048576", last.event, len(last.payload))
	}
}
