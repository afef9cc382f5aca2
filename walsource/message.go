package walsource

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// decodeEvent decodes a realtime message's content. The shape realtime.publish writes
// ({"event":…,"users":[…],"rooms":[…],"payload":…}, strings without escapes) is read directly,
// which at tens of thousands of messages a second costs a fraction of encoding/json's
// reflection; anything else (a message written by hand, strings with escapes) goes through
// encoding/json. ok is false when the content is not an event: invalid JSON, no event name or no
// payload.
func decodeEvent(content []byte) (e event, ok bool) {
	if e, ok := readPublished(content); ok {
		return e, true
	}
	e = event{}
	if err := json.Unmarshal(content, &e); err != nil || e.Event == "" || len(e.Payload) == 0 {
		return event{}, false
	}
	return e, true
}

// readPublished reads content written by realtime.publish; ok is false for any other shape.
// The payload is copied (content is the connection's receive buffer).
func readPublished(content []byte) (e event, ok bool) {
	rest, ok := bytes.CutPrefix(content, []byte(`{"event":`))
	if !ok {
		return e, false
	}
	if e.Event, rest, ok = plainString(rest); !ok || e.Event == "" {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"users":`)); !ok {
		return e, false
	}
	if e.Users, rest, ok = plainStrings(rest); !ok {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"rooms":`)); !ok {
		return e, false
	}
	if e.Rooms, rest, ok = plainStrings(rest); !ok {
		return e, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"payload":`)); !ok {
		return e, false
	}
	payload, ok := bytes.CutSuffix(rest, []byte(`}`))
	if !ok || len(payload) == 0 || !json.Valid(payload) {
		return e, false
	}
	e.Payload = bytes.Clone(payload)
	return e, true
}

// plainString reads a JSON string without escapes or control characters at the start of b.
func plainString(b []byte) (s string, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", b, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			if !utf8.Valid(b[1:i]) {
				return "", b, false
			}
			return string(b[1:i]), b[i+1:], true
		case c == '\\' || c < 0x20:
			return "", b, false
		}
	}
	return "", b, false
}

// plainStrings reads a JSON array of plain strings (plainString) at the start of b.
func plainStrings(b []byte) (ss []string, rest []byte, ok bool) {
	rest, ok = bytes.CutPrefix(b, []byte(`[`))
	if !ok {
		return nil, b, false
	}
	if r, ok := bytes.CutPrefix(rest, []byte(`]`)); ok {
		return []string{}, r, true
	}
	for {
		var s string
		if s, rest, ok = plainString(rest); !ok {
			return nil, b, false
		}
		ss = append(ss, s)
		if r, ok := bytes.CutPrefix(rest, []byte(`]`)); ok {
			return ss, r, true
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(`,`)); !ok {
			return nil, b, false
		}
	}
}
