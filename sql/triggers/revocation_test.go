package triggers_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/router"
)

// internalEvent is an internal event (revocation) of the outbox.
type internalEvent struct {
	Event   string
	Payload map[string]any
}

// internalEvents returns the internal events published after position after, in order.
func internalEvents(t *testing.T, conn *pgx.Conn, after int64) []internalEvent {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT event, payload FROM realtime.events
		WHERE pos > $1 AND rooms = ARRAY[$2] AND users = '{}' ORDER BY pos`, after, router.InternalRoom)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (internalEvent, error) {
		var e internalEvent
		var raw []byte
		err := r.Scan(&e.Event, &raw)
		if err == nil {
			err = json.Unmarshal(raw, &e.Payload)
		}
		return e, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func head(t *testing.T, conn *pgx.Conn) int64 {
	var pos int64
	if err := conn.QueryRow(context.Background(), "SELECT coalesce(max(pos), 0) FROM realtime.events").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	return pos
}

func exec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// twoUsers creates a family with two users; it returns their ids.
func twoUsers(t *testing.T, conn *pgx.Conn) (familyID, u1, u2 string) {
	t.Helper()
	err := conn.QueryRow(context.Background(), `
		WITH fam AS (INSERT INTO families (name) VALUES ('f') RETURNING id),
		     a AS (INSERT INTO users (family_id, name, role) SELECT id, 'a', 'parent' FROM fam RETURNING id),
		     b AS (INSERT INTO users (family_id, name, role) SELECT id, 'b', 'child' FROM fam RETURNING id)
		SELECT fam.id::text, a.id::text, b.id::text FROM fam, a, b`).Scan(&familyID, &u1, &u2)
	if err != nil {
		t.Fatal(err)
	}
	return
}

func TestSessionRulesRevokeByHash(t *testing.T) {
	conn := connect(t)
	_, u1, _ := twoUsers(t, conn)
	const token = "secret-session-token"
	exec(t, conn, `INSERT INTO sessions (token, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')`, token, u1)
	hash := router.SessionHash(token)

	tests := []struct {
		name, sql string
		want      []string // internal events
	}{
		{"unrelated column", `UPDATE sessions SET created_at = now() - interval '1 day'`, nil},
		{"expiry changed", `UPDATE sessions SET expires_at = now() + interval '2 hours'`, []string{router.EventSessionExpires}},
		{"deleted", `DELETE FROM sessions`, []string{router.EventRevokeSession}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := head(t, conn)
			exec(t, conn, tt.sql)
			evs := internalEvents(t, conn, before)
			if len(evs) != len(tt.want) {
				t.Fatalf("events %v, want %v", evs, tt.want)
			}
			for i, e := range evs {
				if e.Event != tt.want[i] || e.Payload["userId"] != u1 || e.Payload["sessionHash"] != hash {
					t.Fatalf("event %+v: want %s for user %s, session hash %s", e, tt.want[i], u1, hash)
				}
			}
		})
	}
	var leaked bool
	if err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM realtime.events WHERE payload::text LIKE '%' || $1 || '%')`, token).Scan(&leaked); err != nil || leaked {
		t.Fatalf("a session token reached the outbox (leaked=%v, err=%v)", leaked, err)
	}
}

func TestSessionTokenChangeRevokesTheOldToken(t *testing.T) {
	conn := connect(t)
	_, u1, _ := twoUsers(t, conn)
	exec(t, conn, `INSERT INTO sessions (token, user_id, expires_at) VALUES ('old', $1, now() + interval '1 hour')`, u1)
	before := head(t, conn)
	exec(t, conn, `UPDATE sessions SET token = 'new', expires_at = now() + interval '2 hours'`)
	evs := internalEvents(t, conn, before)
	if len(evs) != 1 || evs[0].Event != router.EventRevokeSession || evs[0].Payload["sessionHash"] != router.SessionHash("old") {
		t.Fatalf("events %v, want one revocation of the old token", evs)
	}
}

func TestChatMemberRulesRevokeMembership(t *testing.T) {
	conn := connect(t)
	fam, u1, u2 := twoUsers(t, conn)
	var chat string
	if err := conn.QueryRow(context.Background(), `INSERT INTO chats (family_id, name) VALUES ($1, 'c') RETURNING id::text`, fam).Scan(&chat); err != nil {
		t.Fatal(err)
	}
	revocations := func(before int64) []string {
		var out []string
		for _, e := range internalEvents(t, conn, before) {
			if e.Event != router.EventRevokeChatMember || e.Payload["chatId"] != chat {
				t.Fatalf("unexpected internal event %+v", e)
			}
			out = append(out, e.Payload["userId"].(string))
		}
		return out
	}
	before := head(t, conn)
	exec(t, conn, `INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2), ($1, $3)`, chat, u1, u2)
	if got := revocations(before); len(got) != 0 {
		t.Fatalf("adding members revoked %v", got)
	}
	before = head(t, conn)
	exec(t, conn, `UPDATE chat_members SET joined_at = now() - interval '1 day'`)
	if got := revocations(before); len(got) != 0 {
		t.Fatalf("touching joined_at revoked %v", got)
	}
	before = head(t, conn)
	exec(t, conn, `DELETE FROM chat_members WHERE user_id = $1`, u1)
	if got := revocations(before); len(got) != 1 || got[0] != u1 {
		t.Fatalf("removing u1 revoked %v", got)
	}
	before = head(t, conn)
	exec(t, conn, `DELETE FROM chats WHERE id = $1`, chat)
	if got := revocations(before); strings.Join(got, ",") != u2 {
		t.Fatalf("deleting the chat revoked %v, want the remaining member %s", got, u2)
	}
}
