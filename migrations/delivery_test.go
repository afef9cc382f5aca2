package migrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/realtimed/realtimed/internal/pgtest"
)

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func nextNotification(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := conn.WaitForNotification(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n.Payload
}

// TestEnvelopeEscapesNamesAndRecipients: the envelope built as text is valid JSON whatever the
// event name, recipients and payload hold.
func TestEnvelopeEscapesNamesAndRecipients(t *testing.T) {
	url := pgtest.NewDatabase(t)
	listen, writer := connect(t, url), connect(t, url)
	exec(t, listen, "LISTEN realtime")
	event, user, room := `a"b\c`+"\n", `ü"'`, `chat:{x}`
	payload := `{"s": "q\"uote\\ \u0001 é", "n": [1, 2.5, null, true]}`
	exec(t, writer, `SELECT realtime.publish($1, ARRAY[$2], ARRAY[$3], $4::jsonb)`, event, user, room, payload)
	var env struct {
		ID, Pos, TS int64
		Event       string
		Users       []string
		Rooms       []string
		Payload     json.RawMessage
	}
	raw := nextNotification(t, listen)
	if err := json.Unmarshal([]byte(raw), &env); err != nil {
		t.Fatalf("envelope %s: %v", raw, err)
	}
	var want, got any
	_ = json.Unmarshal([]byte(payload), &want)
	_ = json.Unmarshal(env.Payload, &got)
	if env.ID != 1 || env.Pos != 1 || env.TS == 0 || env.Event != event || len(env.Users) != 1 || env.Users[0] != user ||
		len(env.Rooms) != 1 || env.Rooms[0] != room || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("envelope %s decoded as %+v", raw, env)
	}
}

// TestEnvelopeSizeBoundary: an envelope of 7,999 bytes goes inline, one of 8,000 bytes by
// reference (NOTIFY refuses 8,000), and neither fails the writer.
func TestEnvelopeSizeBoundary(t *testing.T) {
	url := pgtest.NewDatabase(t)
	listen, writer := connect(t, url), connect(t, url)
	exec(t, listen, "LISTEN realtime")
	publish := func(n int) string {
		exec(t, writer, `SELECT realtime.publish('sized', ARRAY['u'], '{}', jsonb_build_object('b', repeat('x', $1::int)))`, n)
		return nextNotification(t, listen)
	}
	base := len(publish(100)) - 100 // ids and positions keep one digit below
	for _, size := range []int{7999, 8000} {
		got := publish(size - base)
		inline := !strings.Contains(got, `"ref":true`)
		if inline != (size < 8000) || (inline && len(got) != size) {
			t.Fatalf("envelope of %d bytes: notification of %d bytes, inline=%v", size, len(got), inline)
		}
	}
}

// TestMaxEventBytes: a payload of exactly the configured maximum is published; one byte more
// is refused with a clear error (SQLSTATE 54000), which is the only thing that fails the
// writer's transaction.
func TestMaxEventBytes(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	exec(t, conn, `UPDATE realtime.settings SET value = '1000' WHERE key = 'max_event_bytes'`)
	// {"b": "xxx…"} is 9 bytes plus the string.
	exec(t, conn, `SELECT realtime.publish('fits', ARRAY['u'], '{}', jsonb_build_object('b', repeat('x', 991)))`)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT realtime.publish('fits.too', ARRAY['u'], '{}', '{"a":1}')`); err != nil {
		t.Fatalf("a small event in the transaction: %v", err)
	}
	_, err = tx.Exec(ctx, `SELECT realtime.publish('too.big', ARRAY['u'], '{}', jsonb_build_object('b', repeat('x', 992)))`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "54000" ||
		!strings.Contains(pe.Message, `payload of event "too.big" is 1001 bytes, over the limit of 1000 bytes`) ||
		!strings.Contains(pe.Hint, "REALTIME_MAX_EVENT_BYTES") {
		t.Fatalf("oversized event: %v (%+v)", err, pe)
	}
	_ = tx.Rollback(ctx)
	var events []string
	rows, _ := conn.Query(ctx, `SELECT event FROM realtime.events ORDER BY id`)
	events, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || strings.Join(events, ",") != "fits" {
		t.Fatalf("outbox %v, %v: want only the committed event", events, err)
	}
}

// TestCommittedAtFollowsPositions: commit times never decrease along positions, under
// concurrent writers (retention relies on it).
func TestCommittedAtFollowsPositions(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, url)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
					_, err := tx.Exec(context.Background(), `SELECT realtime.publish('c', ARRAY['u'], '{}', jsonb_build_object('w', $1::int, 'i', $2::int))`, w, i)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var inversions int
	err := pool.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT committed_at < lag(committed_at) OVER (ORDER BY pos) AS inverted FROM realtime.events) x WHERE inverted`).Scan(&inversions)
	if err != nil || inversions != 0 {
		t.Fatalf("%d commit times go backwards along positions (%v)", inversions, err)
	}
}

// TestPruneByCommitOrder: retention deletes a prefix of the stream (everything before the
// first event committed within the period) and records how far it went.
func TestPruneByCommitOrder(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		exec(t, conn, `SELECT realtime.publish('e', ARRAY['u'], '{}', jsonb_build_object('i', $1::int))`, i)
	}
	// Positions 1, 2 and 4 are old; 3 and 5 are recent: only the prefix 1-2 goes.
	exec(t, conn, `UPDATE realtime.events SET committed_at = now() - interval '2 hours' WHERE pos IN (1, 2, 4)`)
	// A row that never got a position (written with triggers disabled), old.
	exec(t, conn, `SET session_replication_role = replica`)
	exec(t, conn, `INSERT INTO realtime.events (event, users, created_at) VALUES ('nopos', '{u}', now() - interval '2 hours')`)
	exec(t, conn, `SET session_replication_role = DEFAULT`)
	prune := func() (deleted, through int64, left string) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT realtime.prune(interval '1 hour')`).Scan(&deleted); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, `SELECT realtime.pruned_through()`).Scan(&through); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, `SELECT coalesce(string_agg(coalesce(pos::text, 'null'), ',' ORDER BY pos), '') FROM realtime.events`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		return
	}
	if d, th, left := prune(); d != 3 || th != 2 || left != "3,4,5" {
		t.Fatalf("first prune: deleted %d, pruned through %d, left %q; want 3, 2, \"3,4,5\"", d, th, left)
	}
	exec(t, conn, `UPDATE realtime.events SET committed_at = now() - interval '2 hours'`)
	if d, th, left := prune(); d != 3 || th != 5 || left != "" {
		t.Fatalf("second prune: deleted %d, pruned through %d, left %q", d, th, left)
	}
	if d, th, _ := prune(); d != 0 || th != 5 {
		t.Fatalf("prune of an empty outbox: deleted %d, pruned through %d; want 0, 5", d, th)
	}
	exec(t, conn, `SELECT realtime.publish('e', ARRAY['u'], '{}', '{}')`)
	var pos int64
	if err := conn.QueryRow(ctx, `SELECT pos FROM realtime.events`).Scan(&pos); err != nil || pos != 6 {
		t.Fatalf("next position %d (%v), want 6", pos, err)
	}
}

// TestPruneUsesThePositionIndex: finding the prefix to prune does not read the whole outbox.
func TestPruneUsesThePositionIndex(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	exec(t, conn, `INSERT INTO realtime.events (event, users) SELECT 'e', '{u}' FROM generate_series(1, 20000)`)
	exec(t, conn, `ANALYZE realtime.events`)
	rows, _ := conn.Query(context.Background(), `EXPLAIN (FORMAT TEXT) SELECT pos FROM realtime.events
		WHERE pos IS NOT NULL AND committed_at >= now() - interval '1 hour' ORDER BY pos LIMIT 1`)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if plan := strings.Join(lines, "\n"); !strings.Contains(plan, "Index Scan using events_pos_key") {
		t.Fatalf("plan: %s", plan)
	}
}

// TestPruneSessions: sessions disconnected longer than the window ago, and sessions of nodes
// silent (no heartbeat for the node silence) for longer than the window, or gone, are deleted,
// with those nodes. A live node's heartbeat may be older than a short window.
func TestPruneSessions(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	exec(t, conn, `INSERT INTO realtime.nodes (id, hostname, addr, pid, seen_at) VALUES
		('alive', 'h', ':1', 1, now() - interval '20 seconds'),
		('dead', 'h', ':2', 2, now() - interval '2 minutes')`)
	exec(t, conn, `INSERT INTO realtime.sessions (pid, user_id, pos, node, sid, disconnected_at) VALUES
		('connected', 'u', 0, 'alive', 's1', NULL),
		('recently.gone', 'u', 0, 'alive', 's2', now() - interval '5 seconds'),
		('long.gone', 'u', 0, 'alive', 's3', now() - interval '10 minutes'),
		('on.dead.node', 'u', 0, 'dead', 's4', NULL),
		('on.unknown.node', 'u', 0, 'nowhere', 's5', NULL)`)
	var deleted int64
	if err := conn.QueryRow(context.Background(), `SELECT realtime.prune_sessions(interval '10 seconds', interval '30 seconds')`).Scan(&deleted); err != nil {
		t.Fatal(err)
	}
	var left, nodes string
	if err := conn.QueryRow(context.Background(), `SELECT (SELECT string_agg(pid, ',' ORDER BY pid) FROM realtime.sessions),
		(SELECT string_agg(id, ',') FROM realtime.nodes)`).Scan(&left, &nodes); err != nil {
		t.Fatal(err)
	}
	if deleted != 3 || left != "connected,recently.gone" || nodes != "alive" {
		t.Fatalf("deleted %d, left %q, nodes %q", deleted, left, nodes)
	}
}
