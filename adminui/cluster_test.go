package adminui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/realtimed/realtimed/adminui"
	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/demo"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/servertest"
	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/server"
)

const (
	secret   = "adminui-test-secret"
	password = "correct horse battery staple"
)

// node is a running realtimed node with the Admin UI enabled.
type node struct {
	srv *server.Server
	url string
}

// startNodes serves n nodes on one fresh database, with vars added to the Admin UI's.
func startNodes(t *testing.T, n int, vars map[string]string) ([]node, string, *logtest.Hook) {
	t.Helper()
	db := pgtest.NewDatabase(t)
	all := map[string]string{
		"DATABASE_URL": db, "REALTIME_JWT_SECRET": secret,
		"REALTIME_ADMIN_UI": "true", "REALTIME_ADMIN_UI_PASSWORD": password,
	}
	for k, v := range vars {
		all[k] = v
	}
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.InfoLevel)
	var nodes []node
	for range n {
		srv, url := servertest.Start(t, all, log)
		nodes = append(nodes, node{srv, url})
	}
	for _, nd := range nodes {
		wait.Until(t, "the node's listener", nd.srv.Listener().Ready)
	}
	return nodes, db, hook
}

// appClient connects a client of the application as user to base.
func appClient(t *testing.T, base, user string) *siotest.Conn {
	t.Helper()
	tok, err := auth.SignHS256([]byte(secret), user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := siotest.Connect(context.Background(), base, siotest.Options{Auth: map[string]string{"token": tok}})
	if err != nil || c.Refused != nil {
		t.Fatalf("connecting %s: %v %+v", user, err, c)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ui is a raw client of the admin namespace, with the events it received.
type ui struct {
	t    *testing.T
	conn *siotest.Conn
	seen []siotest.Event
}

func connectUI(t *testing.T, base string, authPayload any) (*ui, *siotest.ConnectError) {
	t.Helper()
	c, err := siotest.Connect(context.Background(), base, siotest.Options{Namespace: adminui.NamespaceName, Auth: authPayload})
	if err != nil {
		t.Fatalf("connecting the UI: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &ui{t: t, conn: c}, c.Refused
}

// waitFor reads events until one named name satisfies match, and returns it.
func (u *ui) waitFor(name string, match func(args []json.RawMessage) bool) siotest.Event {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		e, err := u.conn.NextEvent(ctx)
		if err != nil {
			var names []string
			for _, s := range u.seen {
				names = append(names, s.Name)
			}
			u.t.Fatalf("no %s event in time (%v); received: %s", name, err, strings.Join(names, " "))
		}
		u.seen = append(u.seen, e)
		if e.Name == name && (match == nil || match(e.Args)) {
			return e
		}
	}
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return v
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// The UI connected to one node sees every node as a server, with its sockets, their changes
// (connect, rooms, disconnect) and the charts' counts; its actions reach sockets on any node,
// within what is allowed.
func TestAdminUIAcrossNodes(t *testing.T) {
	nodes, db, hook := startNodes(t, 2, nil)
	a, b := nodes[0], nodes[1]
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	fam, err := demo.Seed(context.Background(), conn)
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	alex, sam, robin := fam.Members[0].ID, fam.Members[1].ID, fam.Members[2].ID
	onA := appClient(t, a.url, alex)
	onB := appClient(t, b.url, sam)

	if _, refused := connectUI(t, a.url, map[string]string{"username": "admin", "password": "wrong"}); refused == nil ||
		refused.Message != "invalid credentials" {
		t.Fatalf("a wrong password: %+v", refused)
	}
	u, refused := connectUI(t, a.url, map[string]string{"username": "admin", "password": password})
	if refused != nil {
		t.Fatalf("refused: %+v", refused)
	}
	session := str(u.waitFor("session", nil).Args[0])
	features := decode[struct {
		SupportedFeatures []string `json:"supportedFeatures"`
	}](t, u.waitFor("config", nil).Args[0]).SupportedFeatures
	for _, f := range []string{"DISCONNECT", "MDISCONNECT", "LEAVE", "MLEAVE", "AGGREGATED_EVENTS", "ALL_EVENTS"} {
		if !slices.Contains(features, f) {
			t.Errorf("supportedFeatures %v lack %s", features, f)
		}
	}
	if slices.Contains(features, "JOIN") || slices.Contains(features, "EMIT") {
		t.Errorf("supportedFeatures %v offer join or emit", features)
	}

	// all_sockets: the sockets of both nodes, with their user and rooms; never a credential.
	all := decode[[]adminui.SocketView](t, u.waitFor("all_sockets", nil).Args[0])
	users := map[string]string{}
	for _, s := range all {
		users[s.ID] = s.Data.(map[string]any)["userId"].(string)
		if s.Nsp != "/" || !slices.Contains(s.Rooms, "user:"+users[s.ID]) {
			t.Errorf("socket %+v", s)
		}
		if _, ok := s.Handshake.Headers["authorization"]; ok {
			t.Errorf("a socket's view shows its Authorization header: %+v", s.Handshake)
		}
	}
	if len(all) != 2 || users[onA.SID] != alex || users[onB.SID] != sam {
		t.Fatalf("all_sockets %+v, want %s on A and %s on B", all, onA.SID, onB.SID)
	}

	// server_stats of both nodes.
	servers := map[string]bool{}
	for len(servers) < 2 {
		st := decode[map[string]any](t, u.waitFor("server_stats", nil).Args[0])
		servers[st["serverId"].(string)] = true
		if st["clientsCount"].(float64) < 1 || st["hostname"] == "" {
			t.Fatalf("server_stats %v", st)
		}
	}
	if !servers[a.srv.Node()] || !servers[b.srv.Node()] {
		t.Fatalf("server_stats from %v, want %s and %s", servers, a.srv.Node(), b.srv.Node())
	}

	// Changes on node B reach the UI on node A.
	robinOnB := appClient(t, b.url, robin)
	connected := decode[adminui.SocketView](t, u.waitFor("socket_connected", func(args []json.RawMessage) bool {
		return strings.Contains(string(args[0]), robinOnB.SID)
	}).Args[0])
	if connected.Data.(map[string]any)["userId"] != robin {
		t.Fatalf("socket_connected %+v", connected)
	}
	chat := "chat:" + fam.ChatID
	if err := robinOnB.Emit("room:join", map[string]string{"chatId": fam.ChatID}); err != nil {
		t.Fatal(err)
	}
	u.waitFor("room_joined", func(args []json.RawMessage) bool {
		return str(args[0]) == "/" && str(args[1]) == chat && str(args[2]) == robinOnB.SID
	})
	u.waitFor("event_received", func(args []json.RawMessage) bool {
		return str(args[1]) == robinOnB.SID && strings.Contains(string(args[2]), `"room:join"`)
	})
	// An event of the stream delivered to the chat room: event_sent, with its payload and offset.
	conn, err = pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(context.Background(), `SELECT realtime.publish('admin.seen', '{}', ARRAY[$1], '{"n":1}')`, chat)
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sent := u.waitFor("event_sent", func(args []json.RawMessage) bool {
		return str(args[1]) == robinOnB.SID && strings.Contains(string(args[2]), `"admin.seen"`)
	})
	if args := decode[[]json.RawMessage](t, sent.Args[2]); len(args) != 3 || string(args[1]) != `{"n":1}` || str(args[2]) == "" {
		t.Fatalf("event_sent arguments %s, want the event, its payload and its offset", sent.Args[2])
	}

	// Actions: leave a chat room (allowed), leave a user room and join (refused), disconnect.
	if err := u.conn.Emit("leave", "/", "user:"+robin, robinOnB.SID); err != nil {
		t.Fatal(err)
	}
	if err := u.conn.Emit("join", "/", "chat:someone-elses", robinOnB.SID); err != nil {
		t.Fatal(err)
	}
	if err := u.conn.Emit("_disconnect", "/", false); err != nil {
		t.Fatal(err)
	}
	if err := u.conn.Emit("leave", "/", chat, robinOnB.SID); err != nil {
		t.Fatal(err)
	}
	u.waitFor("room_left", func(args []json.RawMessage) bool {
		return str(args[1]) == chat && str(args[2]) == robinOnB.SID
	})
	if err := u.conn.Emit("_disconnect", "/", false, onB.SID); err != nil {
		t.Fatal(err)
	}
	u.waitFor("socket_disconnected", func(args []json.RawMessage) bool {
		return str(args[1]) == onB.SID && str(args[2]) == "server namespace disconnect"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if p, err := onB.Next(ctx); err != nil || p != "1" {
		t.Fatalf("the disconnected client got %q %v, want the DISCONNECT packet", p, err)
	}
	rooms := a.srv.SocketIO().Of("/").Socket(onA.SID)
	if rooms == nil {
		t.Fatal("the refused actions disconnected a socket")
	}
	for _, r := range u.seen {
		if r.Name == "room_left" && str(r.Args[1]) == "user:"+robin || r.Name == "room_joined" && strings.Contains(string(r.Args[1]), "someone") {
			t.Fatalf("a refused action was carried out: %s %s", r.Name, r.Args)
		}
	}
	wait.Until(t, "the refusals logged", func() bool {
		n := 0
		for _, e := range hook.AllEntries() {
			if e.Message == "admin ui: action refused" {
				n++
			}
		}
		return n == 3
	})
	for _, e := range hook.AllEntries() {
		if strings.Contains(fmt.Sprint(e.Message, e.Data), password) {
			t.Fatalf("the password was logged: %s %v", e.Message, e.Data)
		}
	}

	// A client that goes away on node A.
	onA.Close()
	u.waitFor("socket_disconnected", func(args []json.RawMessage) bool { return str(args[1]) == onA.SID })

	// The session id lets the UI reconnect, to either node, without the password; a forged
	// one does not.
	again, refused := connectUI(t, b.url, map[string]string{"sessionId": session})
	if refused != nil {
		t.Fatalf("the session id was refused: %+v", refused)
	}
	again.waitFor("all_sockets", nil)
	forged := session[:len(session)-2] + map[bool]string{true: "AA", false: "AB"}[!strings.HasSuffix(session, "AA")]
	if _, refused := connectUI(t, b.url, map[string]string{"sessionId": forged}); refused == nil {
		t.Fatal("a forged session id was accepted")
	}
}

// A bcrypt hash works as the password, as with instrument(); read-only refuses every action.
func TestAdminUIBcryptAndReadOnly(t *testing.T) {
	// bcrypt.GenerateFromPassword("s3cret", 4)
	const hash = "$2a$04$hg9lZseCWL9ZIEEXJZ94y.RSgt/oXP2P4NBMg4SznsiBRrnEovMZ."
	nodes, _, hook := startNodes(t, 1, map[string]string{
		"REALTIME_ADMIN_UI_PASSWORD": hash, "REALTIME_ADMIN_UI_READONLY": "true",
	})
	victim := appClient(t, nodes[0].url, "victim")
	if _, refused := connectUI(t, nodes[0].url, map[string]string{"username": "admin", "password": hash}); refused == nil {
		t.Fatal("the hash itself was accepted as the password")
	}
	u, refused := connectUI(t, nodes[0].url, map[string]string{"username": "admin", "password": "s3cret"})
	if refused != nil {
		t.Fatalf("refused: %+v", refused)
	}
	features := decode[map[string][]string](t, u.waitFor("config", nil).Args[0])["supportedFeatures"]
	if slices.Contains(features, "DISCONNECT") || slices.Contains(features, "LEAVE") {
		t.Fatalf("read-only supportedFeatures %v", features)
	}
	u.waitFor("all_sockets", nil)
	if err := u.conn.Emit("_disconnect", "/", true, victim.SID); err != nil {
		t.Fatal(err)
	}
	wait.Until(t, "the refusal logged", func() bool {
		for _, e := range hook.AllEntries() {
			if e.Message == "admin ui: action refused" && e.Data["error"] == "the Admin UI is read-only" {
				return true
			}
		}
		return false
	})
	if nodes[0].srv.SocketIO().Of("/").Socket(victim.SID) == nil {
		t.Fatal("a read-only UI disconnected a socket")
	}
}
