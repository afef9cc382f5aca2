package recovery_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/servertest"
	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/server"
)

// The Store's edge cases, through a real node (server, router, listener) and a raw client.
// The end-to-end tests (e2e/tests/recovery.test.mjs) cover the rest with the official client.

const secret = "recovery-test"

type node struct {
	url  string
	pool *pgxpool.Pool
	srv  *server.Server
}

// startNode serves a node on a fresh database until the test ends. poolParams, when given,
// are added to the node's DATABASE_URL (e.g. "pool_max_conns=1").
func startNode(t *testing.T, env map[string]string, poolParams ...string) *node {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	if slot := env["REALTIME_WAL_SLOT"]; slot != "" {
		// Dropped once the node has stopped (cleanups run last first), before the database.
		t.Cleanup(func() { pgtest.DropSlot(t, dbURL, slot) })
	}
	nodeURL := dbURL
	for _, p := range poolParams {
		nodeURL += "&" + p
	}
	vars := map[string]string{"DATABASE_URL": nodeURL, "REALTIME_JWT_SECRET": secret, "REALTIME_HANDSHAKE_RATE": "0"}
	for k, v := range env {
		vars[k] = v
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	srv, url := servertest.Start(t, vars, log)
	pool := pgtest.NewPool(t, dbURL)
	n := &node{url: url, pool: pool, srv: srv}
	n.waitReady(t)
	return n
}

func (n *node) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ready bool
		if c, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://")); err == nil {
			c.Close()
			ready = true
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("node not listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := n.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (n *node) publish(t *testing.T, user, event string, payload string) int64 {
	t.Helper()
	n.exec(t, `SELECT realtime.publish($1, ARRAY[$2], '{}', $3::jsonb)`, event, user, payload)
	return n.head(t)
}

// head returns the stream's newest position in the outbox (0 when empty).
func (n *node) head(t *testing.T) int64 {
	t.Helper()
	var pos int64
	if err := n.pool.QueryRow(context.Background(), `SELECT coalesce(max(pos), 0) FROM realtime.events`).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	return pos
}

// publishRoom publishes an event to a room and returns its position.
func (n *node) publishRoom(t *testing.T, room, event string, payload string) int64 {
	t.Helper()
	n.exec(t, `SELECT realtime.publish($1, '{}', ARRAY[$2], $3::jsonb)`, event, room, payload)
	return n.head(t)
}

func token(t *testing.T, user string) string {
	t.Helper()
	tok, err := auth.SignHS256([]byte(secret), user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return c
}

// connect connects as user with extra auth fields (pid, offset).
func (n *node) connect(t *testing.T, user string, extra map[string]string) *siotest.Conn {
	t.Helper()
	a := map[string]string{"token": token(t, user)}
	for k, v := range extra {
		a[k] = v
	}
	c, err := siotest.Connect(ctx(t), n.url, siotest.Options{Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c.Refused != nil || c.PID == "" {
		t.Fatalf("connect: refused %+v, pid %q", c.Refused, c.PID)
	}
	return c
}

// dropped closes a connection and waits until the node has recorded the disconnection.
func (n *node) dropped(t *testing.T, c *siotest.Conn) {
	t.Helper()
	c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var gone bool
		if err := n.pool.QueryRow(context.Background(), `SELECT disconnected_at IS NOT NULL FROM realtime.sessions WHERE pid = $1`,
			c.PID).Scan(&gone); err == nil && gone {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the disconnection was not recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func offsetOf(t *testing.T, packet string) int64 {
	t.Helper()
	var args []json.RawMessage
	if !strings.HasPrefix(packet, "2[") || json.Unmarshal([]byte(packet[1:]), &args) != nil {
		t.Fatalf("not an event: %q", packet)
	}
	var s string
	if err := json.Unmarshal(args[len(args)-1], &s); err != nil {
		t.Fatalf("no offset in %q", packet)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOffsetsNotOfThisStream: an offset that is not a number, is negative, or lies beyond the
// newest position drawn is not resumed (recovered === false, a new pid).
func TestOffsetsNotOfThisStream(t *testing.T) {
	n := startNode(t, nil)
	for _, offset := range []string{"abc", "-5", "999999999", "1e3"} {
		first := n.connect(t, "u1", nil)
		n.publish(t, "u1", "e", `{}`)
		n.dropped(t, first)
		again := n.connect(t, "u1", map[string]string{"pid": first.PID, "offset": offset})
		if again.PID == first.PID {
			t.Errorf("offset %q: the session was resumed", offset)
		}
	}
}

// TestSessionsOfASilentNode: a client of a node that died without a goodbye (its sessions were
// never marked disconnected) can resume on another node within the window counted from that
// node's last heartbeat plus its silence, not after.
func TestSessionsOfASilentNode(t *testing.T) {
	n := startNode(t, map[string]string{"REALTIME_RECOVERY_WINDOW": "1m"})
	missed := n.publish(t, "u1", "before", `{}`) - 1 // the ghost's session began before this event
	for _, tc := range []struct {
		pid, seen string
		resumed   bool
	}{
		{"ghost-recent", "now() - interval '20 seconds'", true},
		{"ghost-within", "now() - interval '80 seconds'", true}, // 80s < 1m window + 30s silence
		{"ghost-gone", "now() - interval '5 minutes'", false},
	} {
		node := "node-" + tc.pid
		n.exec(t, `INSERT INTO realtime.nodes (id, hostname, addr, pid, seen_at) VALUES ($1, 'h', ':0', 1, `+tc.seen+`)`, node)
		n.exec(t, `INSERT INTO realtime.sessions (pid, user_id, rooms, pos, node, sid) VALUES ($1, 'u1', '{user:u1}', $2, $3, 'old')`,
			tc.pid, missed, node)
		c := n.connect(t, "u1", map[string]string{"pid": tc.pid})
		if resumed := c.PID == tc.pid; resumed != tc.resumed {
			t.Fatalf("%s: resumed %v, want %v", tc.pid, resumed, tc.resumed)
		}
		if tc.resumed {
			got, err := c.Next(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if offsetOf(t, got) != missed+1 {
				t.Fatalf("%s: replayed %q, want the event at %d", tc.pid, got, missed+1)
			}
			var node, sid string
			if err := n.pool.QueryRow(context.Background(), `SELECT node, sid FROM realtime.sessions WHERE pid = $1`, tc.pid).Scan(&node, &sid); err != nil {
				t.Fatal(err)
			}
			if node == "node-"+tc.pid || sid != c.SID {
				t.Fatalf("%s: the session was not claimed by the new socket (node %s, sid %s)", tc.pid, node, sid)
			}
		}
	}
}

// TestRoomsAndEventsOfAResumedSession: the stored rooms are kept only when allowed (no room
// by name), and the replay holds only the user's events and the allowed rooms', never
// internal events.
func TestRoomsAndEventsOfAResumedSession(t *testing.T) {
	n := startNode(t, nil)
	first := n.connect(t, "u1", nil)
	n.dropped(t, first)
	// A session whose rooms somehow hold a room by name and another user's room.
	n.exec(t, `UPDATE realtime.sessions SET rooms = '{user:u1,user:u2,lobby,chat:not-a-uuid}' WHERE pid = $1`, first.PID)
	n.exec(t, `SELECT realtime.publish('for.u2', ARRAY['u2'], '{}', '{}')`)
	n.exec(t, `SELECT realtime.publish('for.lobby', '{}', ARRAY['lobby'], '{}')`)
	n.exec(t, `SELECT realtime.publish('realtime.revoke_session', '{}', ARRAY['realtime:internal'], '{"userId":"u1","sessionHash":"x"}')`)
	mine := n.publish(t, "u1", "for.u1", `{}`)
	c := n.connect(t, "u1", map[string]string{"pid": first.PID, "offset": "0"})
	if c.PID != first.PID {
		t.Fatal("not resumed")
	}
	got, err := c.Next(ctx(t))
	if err != nil || offsetOf(t, got) != mine || !strings.Contains(got, "for.u1") {
		t.Fatalf("replayed %q (%v), want only for.u1 at %d", got, err, mine)
	}
	var rooms []string
	if err := n.pool.QueryRow(context.Background(), `SELECT rooms FROM realtime.sessions WHERE pid = $1`, first.PID).Scan(&rooms); err != nil {
		t.Fatal(err)
	}
	if strings.Join(rooms, ",") != "user:u1" {
		t.Fatalf("rooms of the resumed session %v, want only user:u1", rooms)
	}
}

// TestAbandonedSession: a session whose missed events exceed the replay limit is not resumed,
// and the session the socket had claimed is deleted (a new one is saved).
func TestAbandonedSession(t *testing.T) {
	n := startNode(t, map[string]string{"REALTIME_SEND_QUEUE_BYTES": "200000", "REALTIME_MAX_PAYLOAD": "100000", "REALTIME_MAX_EVENT_BYTES": "60000"})
	first := n.connect(t, "u1", nil)
	n.dropped(t, first)
	for i := 0; i < 3; i++ {
		n.publish(t, "u1", "big", `{"b":"`+strings.Repeat("x", 50000)+`"}`) // 150 KB > 100 KB limit
	}
	c := n.connect(t, "u1", map[string]string{"pid": first.PID, "offset": "0"})
	if c.PID == first.PID {
		t.Fatal("resumed a session whose missed events exceed the limit")
	}
	var old, fresh int
	if err := n.pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE pid = $1), count(*) FILTER (WHERE pid = $2)
		FROM realtime.sessions`, first.PID, c.PID).Scan(&old, &fresh); err != nil {
		t.Fatal(err)
	}
	if old != 0 || fresh != 1 {
		t.Fatalf("sessions: old %d (want 0), new %d (want 1)", old, fresh)
	}
}
