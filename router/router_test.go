package router_test

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
)

const secret = "router-secret"

type testServer struct {
	url    string
	router *router.Router
	ns     *socketio.Namespace
}

func newServer(t *testing.T) *testServer {
	t.Helper()
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Secrets: [][]byte{[]byte(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	io := socketio.NewServer(socketio.Options{Logger: log})
	ns := io.Of("/")
	r := router.New(ns, &auth.Verifier{JWT: jv}, log, router.Hooks{})
	hs := httptest.NewServer(io)
	t.Cleanup(hs.Close)
	return &testServer{url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket", router: r, ns: ns}
}

// client is a raw Socket.IO client over websocket.
type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (s *testServer) dial(t *testing.T, token string) (*client, string) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &client{t: t, ws: ws}
	if open := c.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	auth, _ := json.Marshal(map[string]string{"token": token})
	c.write("40" + string(auth))
	return c, c.read()
}

func (c *client) write(s string) {
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// read returns the next packet that is not a ping.
func (c *client) read() string {
	c.t.Helper()
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if string(b) != "2" {
			return string(b)
		}
	}
}

// quiet asserts nothing but pings arrives for a while.
func (c *client) quiet() {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if string(b) != "2" {
			c.t.Fatalf("unexpected packet %q", b)
		}
	}
}

func token(t *testing.T, user string) string {
	tok, err := auth.SignHS256([]byte(secret), user, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthenticatedSocketsJoinTheirUserRoom(t *testing.T) {
	s := newServer(t)
	_, reply := s.dial(t, token(t, "u1"))
	if !strings.HasPrefix(reply, `40{"sid":`) {
		t.Fatalf("CONNECT reply %q", reply)
	}
	if n := s.ns.RoomSize(router.UserRoom("u1")); n != 1 {
		t.Fatalf("user:u1 has %d sockets", n)
	}
}

func TestRefusedConnectionsGetConnectError(t *testing.T) {
	s := newServer(t)
	cases := []struct{ token, code string }{
		{"", auth.CodeMissingToken},
		{"not-a-jwt-and-no-session-store", auth.CodeInvalidToken},
		{token(t, "u1")[:20] + ".x.y", auth.CodeInvalidToken},
	}
	for _, tc := range cases {
		_, reply := s.dial(t, tc.token)
		if !strings.HasPrefix(reply, `44{"message":"Authentication failed: `) || !strings.Contains(reply, `"code":"`+tc.code+`"`) {
			t.Errorf("token %q: reply %q, want CONNECT_ERROR with code %s", tc.token, reply, tc.code)
		}
	}
	if s.ns.Count() != 0 {
		t.Fatalf("%d sockets connected", s.ns.Count())
	}
}

func TestDeliverReachesUsersAndRoomsOnce(t *testing.T) {
	s := newServer(t)
	alice, _ := s.dial(t, token(t, "alice"))
	bob, _ := s.dial(t, token(t, "bob"))
	carol, _ := s.dial(t, token(t, "carol"))
	// Bob is also in a chat room the event targets: he must get it once.
	for _, sock := range s.ns.Sockets(router.UserRoom("bob")) {
		sock.Join(router.ChatRoom("c1"))
	}
	s.router.Deliver(&listener.Envelope{
		ID: 9, Pos: 7, Event: "task.created", Users: []string{"alice", "bob"}, Rooms: []string{router.ChatRoom("c1")},
		Payload: json.RawMessage(`{"taskId":"t1"}`),
	})
	want := `42["task.created",{"taskId":"t1"},"7"]`
	for name, c := range map[string]*client{"alice": alice, "bob": bob} {
		if got := c.read(); got != want {
			t.Fatalf("%s got %q, want %q", name, got, want)
		}
		c.quiet()
	}
	carol.quiet()
}
