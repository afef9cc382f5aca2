package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/servertest"
	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/server"
)

// auditNode is a node whose pools have one connection each, and what the paths need.
type auditNode struct {
	srv            *server.Server
	url            string
	db             *pgxpool.Pool // the test's own connections
	family, chat   string
	users          []string
	admin, session string
}

const auditSecret = "audit-secret-of-at-least-32-bytes!!"

// TestNoPathWaitsForASecondConnection runs every path that uses the database concurrently, for
// a few seconds, on a node whose pools have one connection each (pool_max_conns=1): recoveries
// with chat rooms, client commands (room:join, room:leave, typing), revocations, session-token
// authentication, heartbeats, retention, the console's API, the demo endpoints, the admin API,
// readiness and metrics. A path that held a pooled connection while it waited for a second one
// of the same pool would wait forever here (the old Restore did); every operation must succeed
// within its deadline, /readyz must stay 200, and afterwards no connection is left acquired and
// no acquisition was given up.
func TestNoPathWaitsForASecondConnection(t *testing.T) {
	n := startAuditNode(t)
	ctx, stop := context.WithTimeout(context.Background(), 4*time.Second)
	defer stop()
	paths := map[string]func(ctx context.Context, n *auditNode, i int) error{
		"recovery":          recoverWithChat,
		"commands":          commands,
		"revocation":        revokeMembership,
		"session token":     sessionConnect,
		"heartbeat":         func(ctx context.Context, n *auditNode, _ int) error { return n.srv.Cluster().Announce(ctx) },
		"retention":         func(ctx context.Context, n *auditNode, _ int) error { _, err := n.srv.Pruner().Prune(ctx); return err },
		"console api":       consoleEvent,
		"demo":              demoWrites,
		"admin":             adminQueries,
		"readiness":         func(ctx context.Context, n *auditNode, _ int) error { return n.expect(ctx, "GET", "/readyz", "", 200) },
		"metrics":           func(ctx context.Context, n *auditNode, _ int) error { return n.expect(ctx, "GET", "/metrics", "", 200) },
		"recovery (second)": recoverWithChat,
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(paths))
	runs := map[string]*int{}
	for name, path := range paths {
		count := new(int) // the goroutines must not read runs while this loop writes it
		runs[name] = count
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := path(octx, n, i)
				cancel()
				if err != nil {
					errs <- fmt.Errorf("%s (run %d): %w", name, i, err)
					return
				}
				*count++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for name, r := range runs {
		if *r == 0 {
			t.Errorf("%s never completed", name)
		}
	}
	t.Logf("runs per path: %v", deref(runs))
	for name, pool := range n.srv.Pools() {
		wait.Until(t, name+": every connection released", func() bool { return pool.Stat().AcquiredConns() == 0 })
		if st := pool.Stat(); st.CanceledAcquireCount() > 0 || st.MaxConns() != 1 {
			t.Errorf("pool %s: %d acquisitions given up, %d connections at most (want 0, 1)", name, st.CanceledAcquireCount(), st.MaxConns())
		}
	}
}

func deref(m map[string]*int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = *v
	}
	return out
}

func startAuditNode(t *testing.T) *auditNode {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	db := pgtest.NewPool(t, dbURL)
	n := &auditNode{db: db, admin: "audit-admin-token"}
	ctx := context.Background()
	if err := db.QueryRow(ctx, `INSERT INTO families (name) VALUES ('audit') RETURNING id`).Scan(&n.family); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `INSERT INTO chats (family_id, name) VALUES ($1, 'audit') RETURNING id`, n.family).Scan(&n.chat); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		var id string
		if err := db.QueryRow(ctx, `INSERT INTO users (family_id, name, role) VALUES ($1, $2, 'parent') RETURNING id`,
			n.family, fmt.Sprint("u", i)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(ctx, `INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)`, n.chat, id); err != nil {
			t.Fatal(err)
		}
		n.users = append(n.users, id)
	}
	n.session = randomToken()
	if _, err := db.Exec(ctx, `INSERT INTO sessions (token, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')`,
		n.session, n.users[0]); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	n.srv, n.url = servertest.Start(t, map[string]string{
		"DATABASE_URL": dbURL + "&pool_max_conns=1", "REALTIME_JWT_SECRET": auditSecret, "REALTIME_HANDSHAKE_RATE": "0",
		"REALTIME_ADMIN_TOKEN": n.admin, "REALTIME_DEMO": "true", "REALTIME_RETENTION": "2m", "REALTIME_RECOVERY_WINDOW": "2m",
	}, log)
	wait.Until(t, "the node ready", func() bool { return n.expect(ctx, "GET", "/readyz", "", 200) == nil })
	return n
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (n *auditNode) token(user string) string {
	tok, err := auth.SignHS256([]byte(auditSecret), user, time.Hour)
	if err != nil {
		panic(err)
	}
	return tok
}

// connect connects with a token and extra auth fields; the connection is closed with ctx.
func (n *auditNode) connect(ctx context.Context, token string, extra map[string]string) (*siotest.Conn, error) {
	a := map[string]string{"token": token}
	for k, v := range extra {
		a[k] = v
	}
	c, err := siotest.Connect(ctx, n.url, siotest.Options{Auth: a})
	if err != nil {
		return nil, err
	}
	if c.Refused != nil {
		c.Close()
		return nil, fmt.Errorf("refused: %+v", c.Refused)
	}
	return c, nil
}

func (n *auditNode) call(ctx context.Context, c *siotest.Conn, event string) error {
	ack, err := c.Call(ctx, event, map[string]string{"chatId": n.chat})
	if err != nil {
		return fmt.Errorf("%s: %w", event, err)
	}
	if !strings.Contains(ack, `"ok":true`) && !strings.Contains(ack, `"forbidden"`) { // forbidden: revoked meanwhile
		return fmt.Errorf("%s: %s", event, ack)
	}
	return nil
}

// recoverWithChat connects, joins the chat, drops the connection, waits until the node has
// recorded it and comes back with the session's pid: it must be recovered.
func recoverWithChat(ctx context.Context, n *auditNode, i int) error {
	tok := n.token(n.users[1+i%2])
	c, err := n.connect(ctx, tok, nil)
	if err != nil {
		return err
	}
	if err := n.call(ctx, c, "room:join"); err != nil {
		c.Close()
		return err
	}
	c.Close()
	for {
		var gone bool
		err := n.db.QueryRow(ctx, `SELECT disconnected_at IS NOT NULL FROM realtime.sessions WHERE pid = $1`, c.PID).Scan(&gone)
		if err != nil {
			return fmt.Errorf("waiting for the disconnection: %w", err)
		}
		if gone {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	again, err := n.connect(ctx, tok, map[string]string{"pid": c.PID})
	if err != nil {
		return err
	}
	defer again.Close()
	if again.PID != c.PID {
		return errors.New("not recovered")
	}
	return nil
}

// commands joins, types in and leaves the chat.
func commands(ctx context.Context, n *auditNode, _ int) error {
	c, err := n.connect(ctx, n.token(n.users[3]), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, cmd := range []string{"room:join", "typing:start", "typing:stop", "room:leave", "room:join"} {
		if err := n.call(ctx, c, cmd); err != nil {
			return err
		}
	}
	return nil
}

// revokeMembership removes a connected member from the chat and adds them back: the removal
// takes the member's sockets out of the room on the listener's goroutine.
func revokeMembership(ctx context.Context, n *auditNode, _ int) error {
	c, err := n.connect(ctx, n.token(n.users[2]), nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := n.call(ctx, c, "room:join"); err != nil {
		return err
	}
	if _, err := n.db.Exec(ctx, `DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2`, n.chat, n.users[2]); err != nil {
		return err
	}
	_, err = n.db.Exec(ctx, `INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)`, n.chat, n.users[2])
	return err
}

func sessionConnect(ctx context.Context, n *auditNode, _ int) error {
	c, err := n.connect(ctx, n.session, nil)
	if err != nil {
		return err
	}
	return c.Close()
}

func consoleEvent(ctx context.Context, n *auditNode, i int) error {
	var id, pos int64
	err := n.db.QueryRow(ctx, `SELECT realtime.publish('audit', '{}', ARRAY['chat:' || $1], $2::jsonb)`, n.chat,
		fmt.Sprintf(`{"i":%d}`, i)).Scan(&id)
	if err == nil {
		err = n.db.QueryRow(ctx, `SELECT pos FROM realtime.events WHERE id = $1`, id).Scan(&pos)
	}
	if err != nil {
		return err
	}
	return n.expectAs(ctx, n.token(n.users[0]), "GET", fmt.Sprint("/console/api/events/", pos), "", 200)
}

func demoWrites(ctx context.Context, n *auditNode, _ int) error {
	if err := n.expect(ctx, "GET", "/demo/family", "", 200); err != nil {
		return err
	}
	alex := `{"userId":"00000000-0000-4000-8000-00000000000a","body":"hi"}`
	if err := n.expect(ctx, "POST", "/demo/task", alex, 200); err != nil {
		return err
	}
	return n.expect(ctx, "POST", "/demo/message", alex, 200)
}

func adminQueries(ctx context.Context, n *auditNode, _ int) error {
	for _, path := range []string{"/admin/sockets", "/admin/users/" + n.users[0] + "/sockets", "/admin/nodes"} {
		if err := n.expectAs(ctx, n.admin, "GET", path, "", 200); err != nil {
			return err
		}
	}
	return nil
}

func (n *auditNode) expect(ctx context.Context, method, path, body string, status int) error {
	return n.expectAs(ctx, "", method, path, body, status)
}

// expectAs sends a request with a bearer token (when not empty) and checks its status.
func (n *auditNode) expectAs(ctx context.Context, bearer, method, path, body string, status int) error {
	req, err := http.NewRequestWithContext(ctx, method, n.url+path, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return nil
}
