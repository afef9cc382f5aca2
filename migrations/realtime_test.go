package migrations_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/migrations"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func count(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM realtime.events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPublishWithoutRecipientsWritesNothing(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	for _, q := range []string{
		`SELECT realtime.publish('x.y', '{}', '{}', '{"a":1}')`,
		`SELECT realtime.publish('x.y', NULL, NULL, '{"a":1}')`,
		`SELECT realtime.publish('x.y', ARRAY[NULL]::text[], '{}', '{}')`,
	} {
		var id *int64
		if err := conn.QueryRow(ctx, q).Scan(&id); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if id != nil {
			t.Fatalf("%s returned id %d, want NULL", q, *id)
		}
	}
	if n := count(t, conn); n != 0 {
		t.Fatalf("%d outbox rows, want 0", n)
	}
}

func TestPublishRejectsBadEvents(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	cases := []struct{ sql, want string }{
		{`SELECT realtime.publish('', ARRAY['u'], '{}', '{}')`, "event name is empty"},
		{`SELECT realtime.publish('big', ARRAY['u'], '{}', jsonb_build_object('b', repeat('x', 1048577)))`, "over the limit of 1048576 bytes"},
	}
	for _, tc := range cases {
		_, err := conn.Exec(ctx, tc.sql)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.sql, err, tc.want)
		}
	}
}

// TestPositionIsAssignedAtCommit: pos is NULL inside the writing transaction and set, in
// commit order, once it commits.
func TestPositionIsAssignedAtCommit(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := tx.QueryRow(ctx, `SELECT realtime.publish('a.b', ARRAY['u'], '{}', '{}')`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	var pos *int64
	if err := tx.QueryRow(ctx, `SELECT pos FROM realtime.events WHERE id = $1`, id).Scan(&pos); err != nil || pos != nil {
		t.Fatalf("before commit: pos %v, err %v; want NULL", pos, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var committed *time.Time
	if err := conn.QueryRow(ctx, `SELECT pos, committed_at FROM realtime.events WHERE id = $1`, id).Scan(&pos, &committed); err != nil {
		t.Fatal(err)
	}
	if pos == nil || *pos != 1 || committed == nil {
		t.Fatalf("after commit: pos %v committed_at %v", pos, committed)
	}
}

// TestEnvelopeByReferenceOverNotifyLimit: a large event never makes the writer's transaction
// fail; its notification carries only the id and position.
func TestEnvelopeByReferenceOverNotifyLimit(t *testing.T) {
	url := pgtest.NewDatabase(t)
	listen, writer := connect(t, url), connect(t, url)
	ctx := context.Background()
	if _, err := listen.Exec(ctx, "LISTEN realtime"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		size int
		ref  bool
	}{{10, false}, {7800, false}, {7999, true}, {20000, true}} {
		if _, err := writer.Exec(ctx, `SELECT realtime.publish('sized', ARRAY['u'], '{}', jsonb_build_object('b', repeat('x', $1::int)))`, tc.size); err != nil {
			t.Fatalf("publishing %d bytes: %v", tc.size, err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		n, err := listen.WaitForNotification(wctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Payload) >= 8000 {
			t.Fatalf("notification of %d bytes", len(n.Payload))
		}
		var env struct {
			ID, Pos int64
			Ref     bool
			Event   string
		}
		if err := json.Unmarshal([]byte(n.Payload), &env); err != nil {
			t.Fatal(err)
		}
		if env.Ref != tc.ref || env.ID == 0 || env.Pos == 0 || (!tc.ref && env.Event != "sized") {
			t.Fatalf("payload of %d bytes: envelope %+v, want ref=%v", tc.size, env, tc.ref)
		}
	}
}

func TestEntityCamelCasesKeys(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	var got string
	err := conn.QueryRow(context.Background(),
		`SELECT realtime.entity('{"id":1,"family_id":"f","assigned_to_user":null,"name":"x"}')::text`).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got != `{"id": 1, "name": "x", "familyId": "f", "assignedToUser": null}` {
		t.Fatalf("entity: %s", got)
	}
}

func TestPruneDeletesOldCommittedEvents(t *testing.T) {
	conn := connect(t, pgtest.NewDatabase(t))
	ctx := context.Background()
	for _, q := range []string{
		`SELECT realtime.publish('old', ARRAY['u'], '{}', '{}')`,
		`SELECT realtime.publish('new', ARRAY['u'], '{}', '{}')`,
		`UPDATE realtime.events SET committed_at = now() - interval '2 days' WHERE event = 'old'`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var deleted int64
	if err := conn.QueryRow(ctx, `SELECT realtime.prune(interval '1 day')`).Scan(&deleted); err != nil || deleted != 1 {
		t.Fatalf("prune: %d, %v", deleted, err)
	}
	var left string
	if err := conn.QueryRow(ctx, `SELECT string_agg(event, ',') FROM realtime.events`).Scan(&left); err != nil || left != "new" {
		t.Fatalf("left %q, %v", left, err)
	}
}

// TestUpDownVersion runs both sets up, reports versions, rolls back and re-applies.
func TestUpDownVersion(t *testing.T) {
	admin := pgtest.AdminURL(t)
	conn := connect(t, admin)
	name := "mig_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "_")
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgtest.Drop(t, name) })
	url := pgtest.WithDatabase(admin, name)
	sets := migrations.Sets(true)
	if err := migrations.Up(url, sets...); err != nil {
		t.Fatal(err)
	}
	for _, set := range sets {
		v, dirty, err := migrations.Version(url, set)
		if err != nil || v == 0 || dirty {
			t.Fatalf("%s: version %d dirty %v err %v", set.Name, v, dirty, err)
		}
	}
	if err := migrations.Up(url, sets...); err != nil {
		t.Fatalf("second up must be a no-op: %v", err)
	}
	if err := migrations.Down(url, 1000, sets...); err != nil {
		t.Fatal(err)
	}
	db := connect(t, url)
	var exists bool
	if err := db.QueryRow(context.Background(), `SELECT to_regclass('realtime.events') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("after down: realtime.events exists=%v err=%v", exists, err)
	}
	if err := migrations.Up(url, migrations.Realtime); err != nil {
		t.Fatal(err)
	}
	if err := migrations.Up("mysql://nope", migrations.Realtime); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("bad URL error: %v", err)
	}
}
