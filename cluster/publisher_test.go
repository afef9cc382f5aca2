package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/internal/pgtest"
)

func listen(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(context.Background(), "LISTEN "+cluster.DefaultChannel); err != nil {
		t.Fatal(err)
	}
	return conn
}

func receive(t *testing.T, conn *pgx.Conn, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		note, err := conn.WaitForNotification(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d of %d notifications: %v", len(got), n, err)
		}
		got = append(got, note.Payload)
	}
	return got
}

func start(t *testing.T, p *cluster.Publisher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestPublisherDeliversInOrder: every message reaches a listener once, in publish order, even
// identical ones (NOTIFY folds identical payloads of one transaction: callers must make them
// unique, as the router does with a sequence number; here they are unique by index).
func TestPublisherDeliversInOrder(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, url)
	conn := listen(t, url)
	p := cluster.NewPublisher(pool, cluster.PublisherConfig{MaxBatch: 7})
	const n = 500
	for i := 0; i < n; i++ {
		if !p.Publish([]byte(fmt.Sprintf(`{"i":%d}`, i))) {
			t.Fatalf("message %d refused", i)
		}
	}
	start(t, p)
	got := receive(t, conn, n)
	for i, m := range got {
		if want := fmt.Sprintf(`{"i":%d}`, i); m != want {
			t.Fatalf("message %d = %s, want %s", i, m, want)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Sent() < n && time.Now().Before(deadline) { // counted once the statement has returned
		time.Sleep(10 * time.Millisecond)
	}
	if p.Sent() != n || p.Dropped() != 0 {
		t.Fatalf("sent %d, dropped %d", p.Sent(), p.Dropped())
	}
}

func TestPublisherRefusesWhatNotifyCannotCarry(t *testing.T) {
	log, hook := test.NewNullLogger()
	p := cluster.NewPublisher(nil, cluster.PublisherConfig{QueueSize: 2, Logger: log})
	if p.Publish(bytes.Repeat([]byte("x"), cluster.MaxMessageBytes+1)) {
		t.Fatal("a message over NOTIFY's limit was accepted")
	}
	if e := hook.LastEntry(); e == nil || !strings.Contains(e.Message, "too large") {
		t.Fatalf("no log line for the oversized message: %v", e)
	}
	if !p.Publish([]byte("a")) || !p.Publish([]byte("b")) {
		t.Fatal("messages within the queue size were refused")
	}
	if p.Publish([]byte("c")) {
		t.Fatal("a full queue accepted a message: Publish must never block or grow without bound")
	}
	if p.Dropped() != 2 {
		t.Fatalf("dropped = %d, want 2", p.Dropped())
	}
}

// TestPublisherDropsWhenTheDatabaseIsUnreachable: a batch that cannot be sent within MaxAge is
// dropped and logged, and the publisher carries on with later messages.
func TestPublisherDropsWhenTheDatabaseIsUnreachable(t *testing.T) {
	url := pgtest.NewDatabase(t)
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.WarnLevel)
	db := &switchable{}
	p := cluster.NewPublisher(db, cluster.PublisherConfig{MaxAge: 300 * time.Millisecond, Logger: log})
	start(t, p)
	p.Publish([]byte("lost"))
	deadline := time.Now().Add(10 * time.Second)
	for p.Dropped() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1", p.Dropped())
	}
	if e := hook.LastEntry(); e == nil || !strings.Contains(e.Message, "not sent") {
		t.Fatalf("no log line for the dropped batch: %v", e)
	}
	pool := pgtest.NewPool(t, url)
	conn := listen(t, url)
	db.set(pool)
	p.Publish([]byte("after"))
	if got := receive(t, conn, 1); got[0] != "after" {
		t.Fatalf("got %q", got)
	}
}

// switchable fails until a database is set.
type switchable struct {
	db atomic.Pointer[cluster.Execer]
}

func (s *switchable) set(db cluster.Execer) { s.db.Store(&db) }

func (s *switchable) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if db := s.db.Load(); db != nil {
		return (*db).Exec(ctx, sql, args...)
	}
	return pgconn.CommandTag{}, errors.New("connection refused")
}

// TestPublisherSendsWhatIsQueuedWhenStopped: messages queued when Run's context ends (the
// typing.stopped of sockets closed at shutdown) are still sent.
func TestPublisherSendsWhatIsQueuedWhenStopped(t *testing.T) {
	url := pgtest.NewDatabase(t)
	pool := pgtest.NewPool(t, url)
	conn := listen(t, url)
	p := cluster.NewPublisher(pool, cluster.PublisherConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.Publish([]byte("last words"))
	p.Run(ctx)
	if got := receive(t, conn, 1); got[0] != "last words" {
		t.Fatalf("got %q", got)
	}
}
