package bus

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Subjects. Every subject starts with the prefix (REALTIME_BUS_PREFIX, "realtime" unless set):
//
//	<prefix>.room.<token>   the events of one room (user:<id>, chat:<id>, realtime:internal)
//	<prefix>.head           the publisher's heartbeat: the position published through
//
// A room's token is its name with every byte outside [A-Za-z0-9_:-] written as %XX (upper-case
// hex), so that dots, wildcards (*, >) and spaces never reach a subject and two rooms never share
// a token; the empty name is "%". A token longer than maxToken bytes is "~" followed by the hex
// SHA-256 of the name instead ("~" is escaped in every other token), which keeps the PUB line
// under the server's control-line limit (4 KiB by default).
const maxToken = 200

// RoomSubject returns the subject of a room's events.
func RoomSubject(prefix, room string) string { return prefix + ".room." + Token(room) }

// HeadSubject returns the subject of the publisher's heartbeats.
func HeadSubject(prefix string) string { return prefix + ".head" }

// Token returns a room's subject token (see the scheme above).
func Token(room string) string {
	if room == "" {
		return "%"
	}
	var b strings.Builder
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(room); i++ {
		c := room[i]
		if plain(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	if b.Len() > maxToken {
		sum := sha256.Sum256([]byte(room))
		return "~" + hex.EncodeToString(sum[:])
	}
	return b.String()
}

func plain(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '-'
}
