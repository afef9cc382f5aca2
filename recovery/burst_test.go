package recovery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
)

// burstClient is one client of TestBurstOfRecoveries: its user, its chat, its connection.
type burstClient struct {
	user, chat, token string
	conn              *siotest.Conn
}

// TestBurstOfRecoveries: hundreds of clients, each in its user room and a chat room, come back
// at the same moment to a node whose pools have one connection each (pool_max_conns=1). Every
// one recovers, with its chat room, and receives exactly the events it missed, in commit
// order; the restores were done in batches. A restore that held a connection while it asked
// for another (a transaction on one connection, the membership check on a second) deadlocked
// here: issue 13.
func TestBurstOfRecoveries(t *testing.T) {
	const clients, chats = 300, 10
	n := startNode(t, map[string]string{"REALTIME_RECOVERY_WINDOW": "1m"}, "pool_max_conns=1")
	users, chatIDs := burstData(t, n, clients, chats)
	cs := make([]*burstClient, clients)
	for i := range cs {
		c := &burstClient{user: users[i], chat: chatIDs[i%chats], token: token(t, users[i])}
		c.conn = n.connect(t, c.user, nil)
		ack, err := c.conn.Call(ctx(t), "room:join", map[string]string{"chatId": c.chat})
		if err != nil || !strings.Contains(ack, `"ok":true`) {
			t.Fatalf("room:join: %s %v", ack, err)
		}
		cs[i] = c
	}
	for _, c := range cs {
		c.conn.Close()
	}
	wait.Until(t, "every disconnection recorded", func() bool {
		var left int
		_ = n.pool.QueryRow(context.Background(), `SELECT count(*) FROM realtime.sessions WHERE disconnected_at IS NULL`).Scan(&left)
		return left == 0
	})
	want := map[string][]int64{} // user -> positions it must receive
	for i, c := range cs {
		pos := n.publish(t, c.user, "burst", fmt.Sprintf(`{"i":%d}`, i))
		want[c.user] = append(want[c.user], pos)
	}
	for _, chat := range chatIDs {
		pos := n.publishRoom(t, "chat:"+chat, "burst", `{"chat":true}`)
		for _, c := range cs {
			if c.chat == chat {
				want[c.user] = append(want[c.user], pos)
			}
		}
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.recoverAndRead(n, want[c.user])
		}()
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := n.srv.Recovery().Stats()
	t.Logf("%d recoveries in %s (%.0f/s) in %d restore batches, %d replay batches", clients, took.Round(time.Millisecond),
		float64(clients)/took.Seconds(), st.RestoreBatches, st.ReplayBatches)
	if st.Recovered != clients || st.RestoreBatches >= clients {
		t.Fatalf("stats %+v: want %d recovered in fewer batches", st, clients)
	}
}

// recoverAndRead reconnects with the client's pid and checks that the session is resumed and
// that the events named "burst" that follow are exactly want, in order.
func (c *burstClient) recoverAndRead(n *node, want []int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := siotest.Connect(ctx, n.url, siotest.Options{Auth: map[string]string{"token": c.token, "pid": c.conn.PID}})
	if err != nil {
		return fmt.Errorf("user %s: %w", c.user, err)
	}
	defer conn.Close()
	if conn.PID != c.conn.PID {
		return fmt.Errorf("user %s: not recovered (pid %q, refused %+v)", c.user, conn.PID, conn.Refused)
	}
	var got []int64
	for len(got) < len(want) {
		msg, err := conn.Next(ctx)
		if err != nil {
			return fmt.Errorf("user %s: after %v of %v: %w", c.user, got, want, err)
		}
		var args []json.RawMessage
		if json.Unmarshal([]byte(msg[1:]), &args) != nil || string(args[0]) != `"burst"` {
			continue
		}
		var off string
		_ = json.Unmarshal(args[len(args)-1], &off)
		var pos int64
		fmt.Sscan(off, &pos)
		got = append(got, pos)
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("user %s: received %v, want %v", c.user, got, want)
		}
	}
	return nil
}

// burstData creates users and chats in the reference schema, user i a member of chat i%chats.
func burstData(t *testing.T, n *node, users, chats int) ([]string, []string) {
	t.Helper()
	var family string
	if err := n.pool.QueryRow(context.Background(), `INSERT INTO families (name) VALUES ('burst') RETURNING id`).Scan(&family); err != nil {
		t.Fatal(err)
	}
	collect := func(sql string, args ...any) []string {
		rows, err := n.pool.Query(context.Background(), sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
	u := collect(`INSERT INTO users (family_id, name, role) SELECT $1, 'u' || i, 'child' FROM generate_series(1, $2) i
		RETURNING id::text`, family, users)
	c := collect(`INSERT INTO chats (family_id, name) SELECT $1, 'c' || i FROM generate_series(1, $2) i RETURNING id::text`, family, chats)
	for i, user := range u {
		n.exec(t, `INSERT INTO chat_members (chat_id, user_id) VALUES ($1, $2)`, c[i%chats], user)
	}
	return u, c
}
