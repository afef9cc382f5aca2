package workload

import (
	"testing"
)

func TestEventArgs(t *testing.T) {
	cases := []struct {
		msg, name, rest string
		ok              bool
	}{
		{`["bench.fanout",{"s":1},"42"]`, "bench.fanout", `{"s":1},"42"]`, true},
		{`["x"]`, "x", "", true},
		{`[1,2]`, "", "", false},
		{`{"a":1}`, "", "", false},
		{`["unterminated`, "", "", false},
	}
	for _, c := range cases {
		name, rest, ok := eventArgs([]byte(c.msg))
		if ok != c.ok || string(name) != c.name || string(rest) != c.rest {
			t.Errorf("eventArgs(%s) = %q, %q, %v", c.msg, name, rest, ok)
		}
	}
}

func TestIntAfter(t *testing.T) {
	cases := []struct {
		b, key, prefix string
		want           int64
		ok             bool
	}{
		{`{"s":17,"t":1700000000000000}`, `"t":`, "", 1700000000000000, true},
		{`{"s": 17, "t": 5, "pad": "xx"}`, `"s":`, "", 17, true}, // jsonb text output
		{`{"task":{"name": "bench 42","id":1}}`, `"name":`, `"bench `, 42, true},
		{`{"task":{"name":"bench 42"}}`, `"name":`, `"bench `, 42, true},
		{`{"task":{"name":"other 42"}}`, `"name":`, `"bench `, 0, false},
		{`{"s":"x"}`, `"s":`, "", 0, false},
		{`{"a":1}`, `"s":`, "", 0, false},
		{`{"s":1234567890123456789}`, `"s":`, "", 0, false}, // too many digits
	}
	for _, c := range cases {
		got, ok := intAfter([]byte(c.b), c.key, c.prefix)
		if got != c.want || ok != c.ok {
			t.Errorf("intAfter(%s, %s) = %d, %v; want %d, %v", c.b, c.key, got, ok, c.want, c.ok)
		}
	}
}

func TestFanoutClientCountsDuplicates(t *testing.T) {
	cl := fanoutClient{seen: make([]uint64, 2)}
	for _, seq := range []int64{0, 63, 64, 0, 64, 100} {
		cl.observe(seq)
	}
	if cl.dup != 2 {
		t.Fatalf("%d duplicates, want 2", cl.dup)
	}
}

func TestTally(t *testing.T) {
	users := map[string]int32{"a": 0, "b": 1, "c": 2}
	published := []publishedEvent{
		{seq: 0, users: []string{"a"}},
		{seq: 1, users: []string{"a", "b"}},
		{seq: 2, users: []string{"a", "b", "c"}},
		{seq: 3, users: []string{"someone-else"}}, // not one of ours: not expected
	}
	received := [][]int32{
		{0, 1, 2, 2}, // a: seq 2 twice
		{1},          // b: lost seq 2
		{2, 0},       // c: seq 0 was not for c
	}
	var r PersonalResult
	r.tally(published, users, received)
	want := PersonalResult{Published: 4, Expected: 6, Delivered: 7, Lost: 1, Duplicated: 1, Unexpected: 1}
	if r.Published != want.Published || r.Expected != want.Expected || r.Delivered != want.Delivered ||
		r.Lost != want.Lost || r.Duplicated != want.Duplicated || r.Unexpected != want.Unexpected {
		t.Fatalf("tally %+v", r)
	}
	if r.Recipients["1"] != 2 || r.Recipients["2"] != 1 || r.Recipients["3"] != 1 {
		t.Fatalf("recipients %v", r.Recipients)
	}
}
