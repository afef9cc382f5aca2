package walsource_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/walsource"
)

// offers records what readers delivered ahead: position → payload.
type offers struct {
	mu  sync.Mutex
	pos map[int64]string
	t   *testing.T
}

func newOffers(t *testing.T) *offers { return &offers{pos: map[int64]string{}, t: t} }

func (o *offers) hook(envs []*listener.Envelope) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range envs {
		if prev, ok := o.pos[e.Pos]; ok && prev != string(e.Payload) {
			o.t.Errorf("position %d offered as %s, then as %s", e.Pos, prev, e.Payload)
		}
		o.pos[e.Pos] = string(e.Payload)
	}
}

// check verifies that every offered position holds, in realtime.events, the event offered at
// it, and that the stream's positions run without a gap (every append numbers from the head).
func (o *offers) check(t *testing.T, rows []row) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	at := make(map[int64]string, len(rows))
	for i, r := range rows {
		at[r.pos] = r.payload
		if i > 0 && r.pos != rows[i-1].pos+1 {
			t.Fatalf("positions %d then %d: a gap", rows[i-1].pos, r.pos)
		}
	}
	for pos, payload := range o.pos {
		got, ok := at[pos]
		if !ok {
			t.Fatalf("position %d was offered (%s) and never appended", pos, payload)
		}
		if !jsonEqual(t, got, payload) {
			t.Fatalf("position %d was offered as %s and appended as %s", pos, payload, got)
		}
	}
	if len(o.pos) == 0 {
		t.Fatal("nothing was offered ahead")
	}
}

func (o *offers) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pos)
}

// TestAheadPositionsAreTheAppendedOnes: readers deliver ahead while 8 writers publish and the
// elected reader loses all its connections twice (its appends in flight included): every event
// offered ahead is appended at the position it was offered at, each once, without gaps.
func TestAheadPositionsAreTheAppendedOnes(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	o := newOffers(t)
	apps := []string{"walsource-test-a", "walsource-test-b"}
	readers := make([]*walsource.Reader, 2)
	for i, app := range apps {
		cfg := e.readerConfig(app)
		cfg.Ahead = o.hook
		readers[i], _ = e.startReader(t, cfg)
	}
	stop := e.writers(t, 8)
	for round := range 2 {
		leader := leaderOf(t, 10*time.Second, readers[0], readers[1])
		offered := o.count()
		wait.Until(t, "events offered ahead", func() bool { return o.count() > offered+200 })
		if _, err := e.pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE application_name IN ($1, $2)`, apps[leader], walsource.ApplicationName); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: reader %d's connections terminated after %d events offered", round, leader, o.count())
	}
	offered := o.count()
	wait.Until(t, "events offered after the failovers", func() bool { return o.count() > offered+200 })
	committed := stop()
	e.waitCount(t, committed)
	rows := e.rows(t)
	checkOrder(t, rows)
	o.check(t, rows)
	t.Logf("%d events, %d offered ahead", len(rows), o.count())
}

// TestNotifyCommitsGoThroughTheReaderWhileAhead: outbox rows committed while a reader delivers
// ahead (a transaction that published with the notify source and commits after the switch to
// wal) do not take positions of their own: realtime.on_commit hands them to the reader as
// logical messages, which appends them among the others.
func TestNotifyCommitsGoThroughTheReaderWhileAhead(t *testing.T) {
	e := newEnv(t, walsource.SourceWAL)
	o := newOffers(t)
	cfg := e.readerConfig("walsource-test-reader")
	cfg.Ahead = o.hook
	e.startReader(t, cfg)
	stop := e.writers(t, 4)
	wait.Until(t, "events offered ahead", func() bool { return o.count() > 50 })
	const late = 200
	for i := range late {
		// What realtime.publish does with the notify source: an outbox row, positioned at commit.
		if _, err := e.pool.Exec(context.Background(), `INSERT INTO realtime.events (event, users, rooms, payload)
			VALUES ('late', ARRAY['u'], '{}', jsonb_build_object('late', $1::int))`, i); err != nil {
			t.Fatal(err)
		}
	}
	committed := stop()
	e.waitCount(t, committed+late)
	rows := e.rows(t)
	checkOrder(t, rows)
	o.check(t, rows)
	lateRows := 0
	for _, r := range rows {
		if r.event == "late" {
			lateRows++
			if r.lsn == nil {
				t.Fatalf("a late outbox row took position %d itself", r.pos)
			}
		}
	}
	if lateRows != late {
		t.Fatalf("%d late events appended, want %d", lateRows, late)
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
