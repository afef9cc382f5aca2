package walsource

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// viaEncodingJSON is what decodeEvent must agree with: encoding/json's reading of the content.
func viaEncodingJSON(content []byte) (event, bool) {
	var e event
	if err := json.Unmarshal(content, &e); err != nil || e.Event == "" || len(e.Payload) == 0 {
		return event{}, false
	}
	return e, true
}

func sameEvent(a, b event) bool {
	norm := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	var pa, pb any
	_ = json.Unmarshal(a.Payload, &pa)
	_ = json.Unmarshal(b.Payload, &pb)
	return a.Event == b.Event && reflect.DeepEqual(norm(a.Users), norm(b.Users)) &&
		reflect.DeepEqual(norm(a.Rooms), norm(b.Rooms)) && reflect.DeepEqual(pa, pb)
}

var messageCases = []struct {
	name    string
	content string
	ok      bool
	direct  bool // read without encoding/json
}{
	{"published", `{"event":"task.created","users":["u1","u2"],"rooms":[],"payload":{"taskId":"t1","n":[1,2,{"a":null}]}}`, true, true},
	{"rooms only", `{"event":"chat.message","users":[],"rooms":["chat:c1"],"payload":{}}`, true, true},
	{"unicode", `{"event":"é","users":["ユーザー"],"rooms":[],"payload":{"t":"😀"}}`, true, true},
	{"escaped event", `{"event":"a\"b","users":["u"],"rooms":[],"payload":{}}`, true, false},
	{"escaped user", `{"event":"e","users":["u\\1","\u00e9"],"rooms":[],"payload":{}}`, true, false},
	{"payload with braces in strings", `{"event":"e","users":["u"],"rooms":[],"payload":{"s":"}{\"}"}}`, true, true},
	{"scalar payload", `{"event":"e","users":["u"],"rooms":[],"payload":42}`, true, true},
	{"other key order", `{"users":["u"],"event":"e","rooms":[],"payload":{}}`, true, false},
	{"spaces", `{"event": "e", "users": ["u"], "rooms": [], "payload": {}}`, true, false},
	{"empty event", `{"event":"","users":["u"],"rooms":[],"payload":{}}`, false, false},
	{"no payload", `{"event":"e","users":["u"],"rooms":[]}`, false, false},
	{"invalid payload", `{"event":"e","users":["u"],"rooms":[],"payload":{"a":}}`, false, false},
	{"truncated", `{"event":"e","users":["u"],"rooms":[],"payload":{"a":1}`, false, false},
	{"trailing garbage", `{"event":"e","users":["u"],"rooms":[],"payload":{}}x`, false, false},
	{"garbage", `not json`, false, false},
	{"empty", ``, false, false},
	{"null users", `{"event":"e","users":null,"rooms":[],"payload":{}}`, true, false},
	{"user not a string", `{"event":"e","users":[1],"rooms":[],"payload":{}}`, false, false},
}

// TestDecodeEventAgreesWithEncodingJSON: the direct reading of realtime.publish's messages
// gives what encoding/json gives, and other shapes fall back to encoding/json.
func TestDecodeEventAgreesWithEncodingJSON(t *testing.T) {
	for _, tc := range messageCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := decodeEvent([]byte(tc.content))
			want, wantOK := viaEncodingJSON([]byte(tc.content))
			if ok != tc.ok || wantOK != tc.ok {
				t.Fatalf("decodeEvent ok=%v, encoding/json ok=%v, want %v", ok, wantOK, tc.ok)
			}
			if ok && !sameEvent(got, want) {
				t.Fatalf("decodeEvent = %+v, encoding/json = %+v", got, want)
			}
			if _, direct := readPublished([]byte(tc.content)); direct != tc.direct {
				t.Fatalf("read directly: %v, want %v", direct, tc.direct)
			}
		})
	}
}

// TestDecodeEventCopiesThePayload: the content is the connection's buffer, reused by the
// next message.
func TestDecodeEventCopiesThePayload(t *testing.T) {
	buf := []byte(`{"event":"e","users":["u"],"rooms":[],"payload":{"a":1}}`)
	e, ok := decodeEvent(buf)
	if !ok {
		t.Fatal("not decoded")
	}
	copy(buf, bytes.Repeat([]byte("x"), len(buf)))
	if string(e.Payload) != `{"a":1}` {
		t.Fatalf("payload %s after the buffer was reused", e.Payload)
	}
}

// FuzzDecodeEvent: on any content, decodeEvent agrees with encoding/json.
func FuzzDecodeEvent(f *testing.F) {
	for _, tc := range messageCases {
		f.Add([]byte(tc.content))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		got, ok := decodeEvent(content)
		want, wantOK := viaEncodingJSON(content)
		if ok != wantOK {
			t.Fatalf("%q: decodeEvent ok=%v, encoding/json ok=%v", content, ok, wantOK)
		}
		if ok && !sameEvent(got, want) {
			t.Fatalf("%q: decodeEvent = %+v, encoding/json = %+v", content, got, want)
		}
	})
}

func BenchmarkDecodeEvent(b *testing.B) {
	content := []byte(`{"event":"task.created","users":["3f0e8a52-8c1e-4a43-9d0a-1a2b3c4d5e6f"],"rooms":[],"payload":{"taskId":123,"title":"Take out the recycling before the truck comes","points":3}}`)
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			decodeEvent(content)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			viaEncodingJSON(content)
		}
	})
}
