package router

import (
	"fmt"
	"testing"
	"time"
)

func TestRevocationLog(t *testing.T) {
	var l revocationLog
	l.add(revoked{pos: 5, user: "u1", chat: "c1"})
	gen := l.generation()
	l.add(revoked{pos: 7, user: "u2", chat: "c1"})
	l.add(revoked{pos: 9, user: "u1", session: "h1"})

	members := []struct {
		asOf        int64
		user, chat  string
		found, know bool
	}{
		{4, "u1", "c1", true, true},  // removed after the check
		{5, "u1", "c1", false, true}, // removed at the check's position: the check saw it
		{0, "u1", "c2", false, true},
		{6, "u2", "c1", true, true},
		{100, "u2", "c1", false, true},
	}
	for _, m := range members {
		found, known := l.memberRevokedAfter(m.asOf, m.user, m.chat)
		if found != m.found || known != m.know {
			t.Errorf("memberRevokedAfter(%d, %s, %s) = %v, %v", m.asOf, m.user, m.chat, found, known)
		}
	}
	if found, known := l.sessionRevokedSince(gen, "h1"); !found || !known {
		t.Errorf("session revoked after gen %d not found", gen)
	}
	if found, _ := l.sessionRevokedSince(l.generation(), "h1"); found {
		t.Errorf("session revoked before the generation found")
	}

	// More revocations than the ring holds: a check older than all of them cannot tell.
	for i := 0; i < len(l.ring)+10; i++ {
		l.add(revoked{pos: int64(100 + i), user: fmt.Sprint("x", i), chat: "c"})
	}
	if _, known := l.memberRevokedAfter(50, "u9", "c9"); known {
		t.Error("an overflowed log claims to know")
	}
	if found, known := l.memberRevokedAfter(int64(100+len(l.ring)), "u9", "c9"); found || !known {
		t.Error("a recent check cannot tell")
	}
	if _, known := l.sessionRevokedSince(gen, "h9"); known {
		t.Error("an overflowed log claims to know (sessions)")
	}
}

func TestClientChats(t *testing.T) {
	c := &Client{}
	c.admitChat("c1", 10)
	c.admitChat("c1", 8) // an older check does not lower it
	if c.forgetChat("c1", 10) {
		t.Fatal("a removal at or before the join's check applied")
	}
	if !c.forgetChat("c1", 11) {
		t.Fatal("a removal after the join's check did not apply")
	}
	if !c.forgetChat("c1", 1) {
		t.Fatal("once forgotten, any removal applies")
	}
}

func TestBucket(t *testing.T) {
	var b bucket
	now := time.Unix(1000, 0)
	n := 0
	for i := 0; i < 100; i++ {
		if b.allow(now, 5, 10) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("burst allowed %d, want 10", n)
	}
	if b.allow(now.Add(100*time.Millisecond), 5, 10) {
		t.Fatal("allowed before a token was refilled")
	}
	if !b.allow(now.Add(250*time.Millisecond), 5, 10) {
		t.Fatal("not allowed after a token was refilled")
	}
	if n := countAllowed(&b, now.Add(time.Hour), 5, 10); n != 10 {
		t.Fatalf("after a long pause %d allowed, want the burst of 10", n)
	}
}

func countAllowed(b *bucket, now time.Time, rate, burst float64) int {
	n := 0
	for b.allow(now, rate, burst) {
		n++
	}
	return n
}
