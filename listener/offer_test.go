package listener_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/realtimed/realtimed/internal/wait"

	"github.com/realtimed/realtimed/listener"
)

// TestOfferDeliversOnlyTheNextPositions: events offered ahead (the wal reader's node) are
// delivered when they continue the stream exactly; the same positions arriving later through
// the stream are not delivered again; offers after a gap wait (and are replaced by an offer
// that does not continue them).
func TestOfferDeliversOnlyTheNextPositions(t *testing.T) {
	f := start(t, nil)
	f.publish(t, "first", `{"n":1}`)
	first := f.got.waitFor(t, 1)[0]

	ahead := func(pos int64, event string) *listener.Envelope {
		return &listener.Envelope{Pos: pos, Event: event, Users: []string{"u1"}, Rooms: []string{}, Payload: json.RawMessage(`{}`)}
	}
	if f.l.Offer([]*listener.Envelope{ahead(first.Pos+2, "gap")}) {
		t.Fatal("an offer after a gap was delivered")
	}
	if got := f.l.Waiting(); got != 1 {
		t.Fatalf("Waiting() = %d after an offer after a gap, want 1", got)
	}
	if !f.l.Offer([]*listener.Envelope{ahead(first.Pos+1, "ahead-1"), ahead(first.Pos+2, "ahead-2")}) {
		t.Fatal("offers continuing the stream were refused")
	}
	if f.l.Offer([]*listener.Envelope{ahead(first.Pos+2, "again")}) {
		t.Fatal("an offer of a delivered position was delivered again")
	}
	if got := f.l.Position(); got != first.Pos+2 {
		t.Fatalf("Position() = %d after the offers, want %d", got, first.Pos+2)
	}
	if got := f.l.Waiting(); got != 0 {
		t.Fatalf("Waiting() = %d once the stream reached the waiting offer, want 0", got)
	}

	// The stream brings positions first+1 and first+2 (here, with the notify source, two other
	// events take them): passed over as delivered. The next one is delivered.
	f.publish(t, "second", `{"n":2}`)
	f.publish(t, "third", `{"n":3}`)
	f.publish(t, "fourth", `{"n":4}`)
	evs := f.got.waitFor(t, 4)
	names := []string{}
	for _, e := range evs {
		names = append(names, e.Event)
	}
	want := []string{"first", "ahead-1", "ahead-2", "fourth"}
	if len(names) != len(want) {
		t.Fatalf("delivered %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] || evs[i].Pos != first.Pos+int64(i) {
			t.Fatalf("delivered %v (positions from %d), want %v at consecutive positions", names, evs[0].Pos, want)
		}
	}
	if st := f.l.Stats(); st.Ahead != 2 || st.Duplicates < 2 {
		t.Fatalf("stats %+v: want Ahead 2 and at least 2 duplicates", st)
	}
}

// TestOffersAheadOfThePositionWaitForTheStream: when the listener has not caught up with the
// appends before them (their notifications are on the way), offered events wait and are
// delivered as soon as the stream reaches them, without waiting for their own append; later
// offers continue them; the stream's own copies of those positions are duplicates.
func TestOffersAheadOfThePositionWaitForTheStream(t *testing.T) {
	f := start(t, nil)
	f.publish(t, "first", `{"n":1}`)
	first := f.got.waitFor(t, 1)[0]
	ahead := func(pos int64, event string) *listener.Envelope {
		return &listener.Envelope{Pos: pos, Event: event, Users: []string{"u1"}, Rooms: []string{}, Payload: json.RawMessage(`{}`)}
	}
	if f.l.Offer([]*listener.Envelope{ahead(first.Pos+2, "ahead-2"), ahead(first.Pos+3, "ahead-3")}) {
		t.Fatal("offers after a gap were delivered at once")
	}
	if f.l.Offer([]*listener.Envelope{ahead(first.Pos+4, "ahead-4")}) {
		t.Fatal("an offer continuing waiting ones was delivered at once")
	}
	if got := f.l.Waiting(); got != 3 {
		t.Fatalf("Waiting() = %d, want 3", got)
	}
	// The stream brings position first+1: the waiting offers follow at once.
	f.publish(t, "second", `{"n":2}`)
	f.got.waitFor(t, 5)
	// Positions first+2..first+4 through the stream: duplicates. first+5 is delivered.
	for _, name := range []string{"third", "fourth", "fifth", "sixth"} {
		f.publish(t, name, `{}`)
	}
	evs := f.got.waitFor(t, 6)
	want := []string{"first", "second", "ahead-2", "ahead-3", "ahead-4", "sixth"}
	for i := range want {
		if evs[i].Event != want[i] || evs[i].Pos != first.Pos+int64(i) {
			t.Fatalf("delivered %s at %d as #%d, want %s at %d", evs[i].Event, evs[i].Pos, i, want[i], first.Pos+int64(i))
		}
	}
	if st := f.l.Stats(); st.Ahead != 3 || st.Duplicates < 3 {
		t.Fatalf("stats %+v: want Ahead 3 and at least 3 duplicates", st)
	}
}

// TestBatchesDeliveredAheadAreNotDecoded: a batch notification whose last position was
// delivered already (ahead) is passed over without decoding it: even an invalid body is not
// looked at (the listener does not count it as skipped).
func TestBatchesDeliveredAheadAreNotDecoded(t *testing.T) {
	f := start(t, nil)
	f.publish(t, "first", `{"n":1}`)
	first := f.got.waitFor(t, 1)[0]
	before := f.l.Stats()
	f.exec(t, `SELECT pg_notify('realtime', $1)`, `{"batch":[{"not":"an envelope"}],"last":`+strconv.FormatInt(first.Pos, 10)+`}`)
	f.exec(t, `SELECT pg_notify('realtime', '{"batch":[{"not":"an envelope"}]}')`) // no last: decoded, skipped
	wait.Until(t, "the invalid batch skipped", func() bool { return f.l.Stats().Skipped > before.Skipped })
	st := f.l.Stats()
	if st.Skipped != before.Skipped+1 || st.Duplicates != before.Duplicates+1 {
		t.Fatalf("stats %+v after %+v: want one more skipped (the batch without last) and one more duplicate", st, before)
	}
}
