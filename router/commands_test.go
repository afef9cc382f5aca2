package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
)

// loopback stands in for the control channel within one process: messages come back to the
// router in publish order, from one goroutine, as the listener hands them over.
type loopback struct{ ch chan []byte }

func (l loopback) Publish(msg []byte) bool {
	select {
	case l.ch <- msg:
		return true
	default:
		return false
	}
}

type commandServer struct {
	*testServer
	fixture chatFixture
	logs    *test.Hook
}

// newCommandServer serves a router with the client commands on a fresh database with a chat
// (chatFixture: its member is user f.member).
func newCommandServer(t *testing.T, limits router.Limits) *commandServer {
	t.Helper()
	f := newChatFixture(t)
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Secrets: [][]byte{[]byte(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	io := socketio.NewServer(socketio.Options{Logger: log})
	ns := io.Of("/")
	r := router.New(ns, &auth.Verifier{JWT: jv}, log, router.Hooks{})
	lb := loopback{ch: make(chan []byte, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range lb.ch {
			r.HandleControl(m)
		}
	}()
	r.EnableCommands(router.Commands{Membership: router.NewMembership(f.pool, ""), Control: lb, Limits: limits})
	hs := httptest.NewServer(io)
	t.Cleanup(func() {
		hs.Close()
		io.Shutdown(context.Background())
		close(lb.ch)
		<-done
	})
	ts := &testServer{url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket", router: r, ns: ns}
	return &commandServer{testServer: ts, fixture: f, logs: hook}
}

// ack sends an event with ack id and returns the ack's first argument.
func (c *client) ack(id int, event string, arg string) string {
	c.t.Helper()
	c.write(fmt.Sprintf(`42%d["%s",%s]`, id, event, arg))
	prefix := fmt.Sprintf("43%d[", id)
	for {
		got := c.read()
		if strings.HasPrefix(got, prefix) {
			return strings.TrimSuffix(strings.TrimPrefix(got, prefix), "]")
		}
	}
}

func (s *commandServer) streamHead(t *testing.T) int64 {
	var pos int64
	if err := s.fixture.pool.QueryRow(context.Background(), "SELECT coalesce(max(pos), 0) FROM realtime.events").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	return pos
}

func revokeMember(pos int64, user, chat string) *listener.Envelope {
	payload, _ := json.Marshal(map[string]string{"userId": user, "chatId": chat})
	return &listener.Envelope{ID: pos, Pos: pos, Event: router.EventRevokeChatMember, Rooms: []string{router.InternalRoom}, Payload: payload}
}

func joinAck(chat string) string { return `{"ok":true,"room":"chat:` + chat + `"}` }

// TestRevocationOrderAgainstJoins: a removal is applied to a socket only if the membership
// check that let it in is older than the removal, whichever order the join and the removal's
// event are handled in.
func TestRevocationOrderAgainstJoins(t *testing.T) {
	s := newCommandServer(t, router.Limits{})
	f := s.fixture
	room := router.ChatRoom(f.chatID)
	c, _ := s.dial(t, token(t, f.member))
	head := s.streamHead(t)

	// A removal published before the membership check (its position is at or below the
	// check's) whose event is handled after the join: stale, the socket stays.
	if got := c.ack(1, "room:join", `{"chatId":"`+f.chatID+`"}`); got != joinAck(f.chatID) {
		t.Fatalf("join: %s", got)
	}
	s.router.Deliver(revokeMember(head, f.member, f.chatID))
	if n := s.ns.RoomSize(room); n != 1 {
		t.Fatalf("a removal older than the join's check took the socket out (%d in the room)", n)
	}

	// A removal published after the check: the socket leaves.
	s.router.Deliver(revokeMember(head+1, f.member, f.chatID))
	if n := s.ns.RoomSize(room); n != 0 {
		t.Fatalf("a removal newer than the join's check left %d sockets in the room", n)
	}

	// A removal published after the next check would read the database (it is still a member
	// there) but handled before the join: the join is refused.
	s.router.Deliver(revokeMember(s.streamHead(t)+1, f.member, f.chatID))
	if got := c.ack(2, "room:join", `{"chatId":"`+f.chatID+`"}`); got != `{"ok":false,"error":"forbidden"}` {
		t.Fatalf("join after a newer removal was handled: %s", got)
	}
	if n := s.ns.RoomSize(room); n != 0 {
		t.Fatalf("%d sockets in the room", n)
	}

	// The same rule for callers that join rooms themselves (recovered sessions).
	sock := s.ns.Sockets(router.UserRoom(f.member))[0]
	latest := s.streamHead(t) + 1
	if s.router.AdmitChat(sock, f.chatID, latest-1) {
		t.Fatal("AdmitChat let in a socket on a check older than a handled removal")
	}
	if !s.router.AdmitChat(sock, f.chatID, latest) {
		t.Fatal("AdmitChat refused a socket on a check as of the removal")
	}
}

// TestInternalEventsAreNeverDelivered: revocations reach no client, whatever rooms it is in.
func TestInternalEventsAreNeverDelivered(t *testing.T) {
	s := newCommandServer(t, router.Limits{})
	f := s.fixture
	c, _ := s.dial(t, token(t, f.member))
	if got := c.ack(1, "room:join", `{"chatId":"`+f.chatID+`"}`); got != joinAck(f.chatID) {
		t.Fatalf("join: %s", got)
	}
	for _, env := range []*listener.Envelope{
		revokeMember(s.streamHead(t), "someone-else", f.chatID),
		{ID: 1, Pos: 1, Event: router.EventRevokeSession, Rooms: []string{router.InternalRoom}, Payload: json.RawMessage(`{"userId":"` + f.member + `","sessionHash":"x"}`)},
		{ID: 2, Pos: 2, Event: "realtime.something_new", Rooms: []string{router.InternalRoom}, Payload: json.RawMessage(`{"userId":"u"}`)},
	} {
		s.router.Deliver(env)
	}
	c.quiet()
}

// TestBadInternalEventsAreLoggedAndIgnored: malformed revocations neither crash nor act.
func TestBadInternalEventsAreLoggedAndIgnored(t *testing.T) {
	s := newCommandServer(t, router.Limits{})
	f := s.fixture
	c, _ := s.dial(t, token(t, f.member))
	c.ack(1, "room:join", `{"chatId":"`+f.chatID+`"}`)
	for i, payload := range []string{`[]`, `{}`, `{"userId":"` + f.member + `"}`, `{"chatId":"` + f.chatID + `"}`, `"x"`} {
		s.logs.Reset()
		s.router.Deliver(&listener.Envelope{ID: int64(i + 1), Pos: 1 << 40, Event: router.EventRevokeChatMember,
			Rooms: []string{router.InternalRoom}, Payload: json.RawMessage(payload)})
		if e := s.logs.LastEntry(); e == nil || e.Level != logrus.WarnLevel || !strings.Contains(e.Message, "ignored") {
			t.Errorf("payload %s: no warning logged (%v)", payload, e)
		}
	}
	if n := s.ns.RoomSize(router.ChatRoom(f.chatID)); n != 1 {
		t.Fatalf("a malformed revocation acted: %d sockets in the room", n)
	}
}

func TestBadControlMessagesAreLoggedAndIgnored(t *testing.T) {
	s := newCommandServer(t, router.Limits{})
	for _, msg := range []string{`not json`, `{"type":"typing","chatId":5}`, `{"type":"typing"}`} {
		s.logs.Reset()
		s.router.HandleControl([]byte(msg))
		if e := s.logs.LastEntry(); e == nil || e.Level != logrus.WarnLevel {
			t.Errorf("%s: no warning logged (%v)", msg, e)
		}
	}
	s.logs.Reset()
	s.router.HandleControl([]byte(`{"type":"from-a-newer-node"}`))
	if e := s.logs.LastEntry(); e == nil || e.Level != logrus.DebugLevel {
		t.Errorf("unknown type: %v, want a debug line", e)
	}
}

// TestClientEventLimits: events beyond the socket's rate, or over the size limit, are dropped
// and acked with an error; unknown events count against the rate too.
func TestClientEventLimits(t *testing.T) {
	s := newCommandServer(t, router.Limits{EventRate: 5, MaxEventBytes: 128})
	f := s.fixture
	c, _ := s.dial(t, token(t, f.member))

	big := `{"chatId":"` + f.chatID + `","pad":"` + strings.Repeat("x", 128) + `"}`
	if got := c.ack(1, "room:join", big); got != `{"ok":false,"error":"payload_too_large"}` {
		t.Fatalf("oversized event: %s", got)
	}
	limited, unknown := 0, 0
	for i := 0; i < 20; i++ { // bursts of 2×5 pass, then about 5 per second
		event := "room:leave"
		if i%2 == 1 {
			event = "no:such-command"
		}
		switch got := c.ack(10+i, event, `{"chatId":"`+f.chatID+`"}`); got {
		case `{"ok":false,"error":"rate_limited"}`:
			limited++
		case `{"ok":false,"error":"unknown_event"}`:
			unknown++
		}
	}
	if limited < 8 || limited > 11 || unknown == 0 {
		t.Fatalf("%d of 20 events rate limited, %d unknown answered; want about 10 limited", limited, unknown)
	}
	time.Sleep(time.Second) // refills the bucket
	if got := c.ack(99, "room:join", `{"chatId":"`+f.chatID+`"}`); got != joinAck(f.chatID) {
		t.Fatalf("after a pause: %s", got)
	}
}
