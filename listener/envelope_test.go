package listener_test

import (
	"errors"
	"testing"

	"github.com/realtimed/realtimed/listener"
)

func TestDecode(t *testing.T) {
	cases := []struct {
		name, in string
		ok       bool
	}{
		{"full", `{"id":1,"pos":1,"event":"a.b","users":["u"],"rooms":[],"payload":{"x":1},"ts":1}`, true},
		{"rooms only", `{"id":1,"pos":1,"event":"a.b","rooms":["chat:c"],"payload":{}}`, true},
		{"ref", `{"id":1,"pos":1,"ref":true}`, true},
		{"garbage", `nope`, false},
		{"array", `[1]`, false},
		{"no id", `{"pos":1,"event":"a","users":["u"],"payload":{}}`, false},
		{"no pos", `{"id":1,"event":"a","users":["u"],"payload":{}}`, false},
		{"no event", `{"id":1,"pos":1,"users":["u"],"payload":{}}`, false},
		{"null payload", `{"id":1,"pos":1,"event":"a","users":["u"],"payload":null}`, false},
		{"no recipients", `{"id":1,"pos":1,"event":"a","payload":{}}`, false},
		{"wrong types", `{"id":"1","pos":1,"event":"a","users":["u"],"payload":{}}`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := listener.Decode([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("Decode(%s) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil && !errors.Is(err, listener.ErrBadEnvelope) {
				t.Fatalf("error %v does not wrap ErrBadEnvelope", err)
			}
		})
	}
}

func TestDecodeBatch(t *testing.T) {
	cases := []struct {
		name, in string
		ok       bool
		n        int
		through  int64
	}{
		{"envelopes", `{"batch":[{"id":1,"pos":1,"event":"a.b","users":["u"],"payload":{}},{"id":2,"pos":2,"event":"a.b","rooms":["r"],"payload":{}}]}`, true, 2, 0},
		{"through", `{"through":17}`, true, 0, 17},
		{"empty batch", `{"batch":[]}`, false, 0, 0},
		{"negative through", `{"through":-1}`, false, 0, 0},
		{"null envelope", `{"batch":[null]}`, false, 0, 0},
		{"invalid envelope", `{"batch":[{"id":1,"pos":1,"event":"a"}]}`, false, 0, 0},
		{"garbage", `{"batch":`, false, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !listener.IsBatch(tc.in) {
				t.Fatalf("IsBatch(%s) = false", tc.in)
			}
			b, err := listener.DecodeBatch([]byte(tc.in))
			if tc.ok != (err == nil) {
				t.Fatalf("DecodeBatch(%s) = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, listener.ErrBadEnvelope) {
					t.Fatalf("error %v does not wrap ErrBadEnvelope", err)
				}
				return
			}
			if len(b.Batch) != tc.n || b.Through != tc.through {
				t.Fatalf("DecodeBatch(%s) = %d envelopes through %d, want %d through %d", tc.in, len(b.Batch), b.Through, tc.n, tc.through)
			}
		})
	}
	if listener.IsBatch(`{"id":1,"pos":1,"ref":true}`) {
		t.Fatal("an envelope taken for a batch")
	}
}

func TestBatchLast(t *testing.T) {
	cases := []struct {
		name, in string
		last     int64
		ok       bool
	}{
		{"batch", `{"batch":[{"id":1,"pos":7,"event":"a","users":["u"],"payload":{"last":1}}],"last":7}`, 7, true},
		{"reference", `{"through":9}`, 0, false},
		{"batch without last", `{"batch":[{"id":1,"pos":7,"event":"a","users":["u"],"payload":{}}]}`, 0, false},
		{"last inside the payload only", `{"batch":[{"id":1,"pos":7,"event":"a","users":["u"],"payload":{"x":1,"last":3}}]}`, 0, false},
		{"not a number", `{"batch":[],"last":"7"}`, 0, false},
		{"negative", `{"batch":[],"last":-7}`, 0, false},
		{"too long", `{"batch":[],"last":1234567890123456789}`, 0, false},
		{"spaces", `{"batch":[],"last":7 }`, 0, false},
		{"empty", ``, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			last, ok := listener.BatchLast(tc.in)
			if ok != tc.ok || last != tc.last {
				t.Fatalf("BatchLast = %d, %v; want %d, %v", last, ok, tc.last, tc.ok)
			}
		})
	}
}
