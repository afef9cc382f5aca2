package workload

import "bytes"

// The bench reads a few numbers out of every received event without decoding its JSON: the
// event name, and integer fields of the payload. Both servers' encodings are accepted
// (PostgreSQL's jsonb text puts a space after ':'; JSON.stringify does not).

// eventArgs splits an EVENT payload `["name",arg1,…]` into the name and what follows the comma
// after it. Names with escapes are not expected (the bench's own events never have them).
func eventArgs(msg []byte) (name, rest []byte, ok bool) {
	if len(msg) < 4 || msg[0] != '[' || msg[1] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(msg[2:], '"')
	if end < 0 {
		return nil, nil, false
	}
	name = msg[2 : 2+end]
	rest = msg[2+end+1:]
	if len(rest) == 0 || rest[0] != ',' {
		return name, nil, true
	}
	return name, rest[1:], true
}

// intAfter finds the first occurrence of key (e.g. `"s":`) in b and parses the non-negative
// integer after it, allowing spaces and the literal prefix (e.g. `"bench `) in between.
func intAfter(b []byte, key, prefix string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return 0, false
	}
	b = b[len(prefix):]
	var n int64
	digits := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		if digits == 18 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	return n, digits > 0
}
