package bus

import (
	"strings"
	"testing"
)

func TestToken(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct{ room, want string }{
		{"user:42", "user:42"},
		{"chat:a-b_c", "chat:a-b_c"},
		{"realtime:internal", "realtime:internal"},
		{"user:ann.smith@example.com", "user:ann%2Esmith%40example%2Ecom"},
		{"chat:*", "chat:%2A"},
		{"chat:>", "chat:%3E"},
		{"chat:a b", "chat:a%20b"},
		{"chat:%2E", "chat:%252E"},
		{"chat:~", "chat:%7E"},
		{"user:é", "user:%C3%A9"},
		{"", "%"},
		{long, "~a2ff5f8ec6ffe6c9e15a1b3f8ba02e4f8f0fd3b0ba9f6f0fe3d6b2a0f0c9b7c4"},
	} {
		got := Token(tc.room)
		if tc.room == long {
			if !strings.HasPrefix(got, "~") || len(got) != 65 {
				t.Errorf("Token(long) = %q, want ~ and 64 hex digits", got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("Token(%q) = %q, want %q", tc.room, got, tc.want)
		}
	}
	if RoomSubject("rt", "user:1") != "rt.room.user:1" || HeadSubject("rt") != "rt.head" {
		t.Fatal("subjects")
	}
}

func TestTokenDistinct(t *testing.T) {
	rooms := []string{"a.b", "a%2Eb", "a_b", "a-b", "a:b", "a b", "a*b", "a>b", "", "%", "~", strings.Repeat("y", 250), strings.Repeat("y", 251)}
	seen := map[string]string{}
	for _, r := range rooms {
		tok := Token(r)
		if prev, dup := seen[tok]; dup {
			t.Fatalf("rooms %q and %q share the token %q", prev, r, tok)
		}
		if strings.ContainsAny(tok, ". *>\t\n") {
			t.Fatalf("token %q of %q has a character NATS subjects forbid", tok, r)
		}
		seen[tok] = r
	}
}
