package socketio_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/socketio"
)

// interest counts the sockets the namespace says are in each room, and checks that no socket
// is in a room before Acquire returned for it.
type interest struct {
	t    *testing.T
	ns   *socketio.Namespace
	mu   sync.Mutex
	refs map[string]int
	bad  []string
}

func (i *interest) Acquire(room string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.ns.RoomSize(room) > i.refs[room] {
		i.bad = append(i.bad, "a socket entered "+room+" before Acquire")
	}
	i.refs[room]++
}

func (i *interest) Release(room string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.refs[room]--
	if i.refs[room] < 0 {
		i.bad = append(i.bad, "released "+room+" more than acquired")
	}
}

func (i *interest) count(room string) int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.refs[room]
}

func TestInterestIsAcquiredAndReleasedOncePerSocketAndRoom(t *testing.T) {
	srv := socketio.NewServer(socketio.Options{})
	ns := srv.Of("/")
	in := &interest{t: t, ns: ns, refs: map[string]int{}}
	ns.SetInterest(in)
	ns.Use(func(s *socketio.Socket) error {
		s.Join("user:" + name(s))
		if name(s) == "refused" {
			return &socketio.ConnectError{Message: "no"}
		}
		return nil
	})
	ns.On("join", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		_ = json.Unmarshal(e.Args[0], &room)
		s.Join(room, room) // twice in one call: one acquisition
		s.Join(room)       // again: none
		_ = e.Ack("ok")
	})
	ns.On("leave", func(s *socketio.Socket, e *socketio.Event) {
		var room string
		_ = json.Unmarshal(e.Args[0], &room)
		s.Leave(room)
		s.Leave(room)
		_ = e.Ack("ok")
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	refused, err := siotest.Connect(ctx, hs.URL, siotest.Options{Auth: map[string]string{"n": "refused"}})
	if err != nil || refused.Refused == nil {
		t.Fatalf("refused connection: %v %+v", err, refused)
	}
	defer refused.Close()
	wait.Until(t, "the refused socket's room released", func() bool { return in.count("user:refused") == 0 })

	var conns []*siotest.Conn
	for _, n := range []string{"ann", "ann", "bob"} {
		c, err := siotest.Connect(ctx, hs.URL, siotest.Options{Auth: map[string]string{"n": n}})
		if err != nil || c.Refused != nil {
			t.Fatalf("connection: %v %+v", err, c)
		}
		conns = append(conns, c)
		if _, err := c.Call(ctx, "join", "chat:x"); err != nil {
			t.Fatal(err)
		}
	}
	for room, want := range map[string]int{"user:ann": 2, "user:bob": 1, "chat:x": 3} {
		if got := in.count(room); got != want {
			t.Fatalf("%s acquired %d times, want %d", room, got, want)
		}
	}
	if _, err := conns[0].Call(ctx, "leave", "chat:x"); err != nil {
		t.Fatal(err)
	}
	if got := in.count("chat:x"); got != 2 {
		t.Fatalf("chat:x held %d times after one socket left it, want 2", got)
	}
	for _, c := range conns {
		c.Close()
	}
	for _, room := range []string{"user:ann", "user:bob", "chat:x"} {
		wait.Until(t, room+" released by every socket", func() bool { return in.count(room) == 0 })
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.bad) > 0 {
		t.Fatal(in.bad)
	}
}
