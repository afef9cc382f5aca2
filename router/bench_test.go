package router_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/router"
)

// BenchmarkMembershipCheck is the database cost of one room:join: the membership query with
// the stream position read in its snapshot. BenchmarkRoundTrip, the baseline, is one SELECT 1
// on the same pool.
//
//	go test ./router -run XXX -bench 'MembershipCheck|RoundTrip|IsInternal'
func BenchmarkMembershipCheck(b *testing.B) {
	f := newChatFixture(b)
	m := router.NewMembership(f.pool, "")
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if a, _, err := m.Check(ctx, f.member, f.chatID); err != nil || a != router.Member {
			b.Fatal(a, err)
		}
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	f := newChatFixture(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var one int
		if err := f.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIsInternal is what live revocation adds to Deliver for every event.
func BenchmarkIsInternal(b *testing.B) {
	env := &listener.Envelope{ID: 1, Pos: 1, Event: "message.new", Users: []string{"u1", "u2"},
		Rooms: []string{"chat:c1"}, Payload: json.RawMessage(`{}`)}
	n := 0
	for i := 0; i < b.N; i++ {
		if router.IsInternal(env) {
			n++
		}
	}
	if n != 0 {
		b.Fatal(n)
	}
}
