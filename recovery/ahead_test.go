package recovery_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
)

// TestOffsetAheadOfTheStreamWaitsWithTheWALSource: with the wal source, the node reading the slot
// delivers events before their append, so a client may come back with an offset the stream has
// not reached yet. The restore waits for the stream,
// on no connection, and the session resumes the moment the offset is appended, in the same
// handshake; an offset the stream does not reach within AheadWait is answered "retry later"
// (the connection closes, the client retries with the same pid and offset); an offset far
// beyond the stream (over the window) is not recovered.
func TestOffsetAheadOfTheStreamWaitsWithTheWALSource(t *testing.T) {
	n := startNode(t, map[string]string{"REALTIME_SOURCE": "wal", "REALTIME_WAL_SLOT": "recovery_ahead_test"})
	publish := func(k int) {
		before := n.head(t)
		for i := range k {
			n.exec(t, `SELECT realtime.publish('e', ARRAY['u1'], '{}', jsonb_build_object('i', $1::int))`, i)
		}
		wait.Until(t, "the events appended", func() bool { return n.head(t) >= before+int64(k) })
	}
	first := n.connect(t, "u1", nil)
	publish(1)
	if _, err := first.Next(ctx(t)); err != nil {
		t.Fatal(err)
	}
	n.dropped(t, first)
	resume := func(offset int64) (*siotest.Conn, error) {
		return siotest.Connect(ctx(t), n.url, siotest.Options{Auth: map[string]string{
			"token": token(t, "u1"), "pid": first.PID, "offset": strconv.FormatInt(offset, 10)}})
	}

	// Ahead by 3: the handshake waits until the stream holds them.
	type outcome struct {
		c   *siotest.Conn
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		c, err := resume(n.head(t) + 3)
		done <- outcome{c, err}
	}()
	wait.Until(t, "the restore waiting for the stream", func() bool { return n.srv.Recovery().Stats().WaitingAhead == 1 })
	publish(3)
	got := <-done
	if got.err != nil {
		t.Fatalf("an offset the stream reaches while the restore waits: %v, want the session resumed", got.err)
	}
	t.Cleanup(func() { got.c.Close() })
	if got.c.PID != first.PID {
		t.Fatalf("not resumed: pid %q, want %q", got.c.PID, first.PID)
	}
	n.dropped(t, got.c)

	// Ahead by 3 and nothing published: refused for now after AheadWait (5s).
	began := time.Now()
	if _, err := resume(n.head(t) + 3); !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("an offset the stream does not reach: %v, want the connection closed (retry later)", err)
	}
	if waited := time.Since(began); waited < 4*time.Second {
		t.Fatalf("refused after %s, want after AheadWait (5s)", waited)
	}
	if st := n.srv.Recovery().Stats(); st.WaitingAhead != 0 || st.RetryLater != 1 {
		t.Fatalf("after the refusal: %+v, want nothing waiting and one retry-later", st)
	}

	far := strconv.FormatInt(n.head(t)+1_000_000, 10)
	c := n.connect(t, "u1", map[string]string{"pid": first.PID, "offset": far})
	if c.PID == first.PID {
		t.Fatal("an offset a million ahead of the stream was resumed")
	}
}

// TestReplayWaitsForEventsDeliveredAhead: the node reading the slot has delivered events (to
// other sockets) that are not appended yet when a client of theirs resumes; the replay waits
// until the stream holds them instead of reading an outbox that lacks them (the client would
// miss them: they reached the node before the socket could hold them).
func TestReplayWaitsForEventsDeliveredAhead(t *testing.T) {
	n := startNode(t, map[string]string{"REALTIME_SOURCE": "wal", "REALTIME_WAL_SLOT": "recovery_replay_ahead_test"})
	client := n.connect(t, "u1", nil)
	n.exec(t, `SELECT realtime.publish('before', ARRAY['u1'], '{}', '{}')`)
	got, err := client.Next(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	offset := offsetOf(t, got)
	wait.Until(t, "the first event appended", func() bool { return n.head(t) >= offset })
	n.dropped(t, client)

	// Hold the stream's order lock: the reader keeps decoding and delivering ahead, its appends
	// wait.
	release := holdOrderLock(t, n)
	n.exec(t, `SELECT realtime.publish('missed', ARRAY['u1'], '{}', '{"n":1}')`)
	n.exec(t, `SELECT realtime.publish('missed', ARRAY['u1'], '{}', '{"n":2}')`)
	wait.Until(t, "the events delivered ahead", func() bool { return n.srv.Position() >= offset+2 })
	if h := n.head(t); h >= offset+2 {
		t.Fatalf("the events were appended (head %d) despite the lock", h)
	}
	release(500 * time.Millisecond)
	again := n.connect(t, "u1", map[string]string{"pid": client.PID, "offset": strconv.FormatInt(offset, 10)})
	if again.PID != client.PID {
		t.Fatalf("not resumed: pid %q, want %q", again.PID, client.PID)
	}
	for want := offset + 1; want <= offset+2; want++ {
		msg, err := again.Next(ctx(t))
		if err != nil {
			t.Fatalf("waiting for the event at %d: %v", want, err)
		}
		if got := offsetOf(t, msg); got != want {
			t.Fatalf("replayed %q, want the event at %d", msg, want)
		}
	}
}

// TestOffsetDeliveredAheadByThisNodeResumesAtOnce: a client of the node reading the slot comes
// back to it with an offset that node delivered ahead and has not appended yet: it resumes at
// once (the replay waits for the append) rather than being told to retry later.
func TestOffsetDeliveredAheadByThisNodeResumesAtOnce(t *testing.T) {
	n := startNode(t, map[string]string{"REALTIME_SOURCE": "wal", "REALTIME_WAL_SLOT": "recovery_resume_ahead_test"})
	client := n.connect(t, "u1", nil)
	// A first append arms the reader: from then on it delivers ahead.
	n.exec(t, `SELECT realtime.publish('first', ARRAY['u1'], '{}', '{}')`)
	if _, err := client.Next(ctx(t)); err != nil {
		t.Fatal(err)
	}
	release := holdOrderLock(t, n)
	n.exec(t, `SELECT realtime.publish('ahead', ARRAY['u1'], '{}', '{}')`)
	msg, err := client.Next(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	offset := offsetOf(t, msg)
	n.dropped(t, client)
	release(500 * time.Millisecond)
	again := n.connect(t, "u1", map[string]string{"pid": client.PID, "offset": strconv.FormatInt(offset, 10)})
	if again.PID != client.PID {
		t.Fatalf("not resumed: pid %q, want %q", again.PID, client.PID)
	}
}

// holdOrderLock takes the stream's order lock (cluster.StreamOrderLock) in a transaction of its
// own: the wal reader's appends wait for it. release lets it go after a delay, from a goroutine
// of its own; the test's end waits for that.
func holdOrderLock(t *testing.T, n *node) (release func(after time.Duration)) {
	t.Helper()
	tx, err := n.pool.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(context.Background(), `SELECT pg_advisory_xact_lock(8243113893085555045)`); err != nil {
		_ = tx.Rollback(context.Background())
		t.Fatal(err)
	}
	done := make(chan struct{})
	released := false
	t.Cleanup(func() {
		if !released {
			_ = tx.Rollback(context.Background())
			return
		}
		<-done
	})
	return func(after time.Duration) {
		released = true
		go func() {
			defer close(done)
			time.Sleep(after)
			_ = tx.Rollback(context.Background())
		}()
	}
}
