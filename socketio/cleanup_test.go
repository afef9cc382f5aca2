package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/socketio"
)

// recorder notes what happens to sockets, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) has(e string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.events {
		if x == e {
			return true
		}
	}
	return false
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func TestCleanupRunsOnceWhicheverWayTheSocketEnds(t *testing.T) {
	rec := &recorder{}
	srv := socketio.NewServer(socketio.Options{})
	ns := srv.Of("/")
	ns.Use(func(s *socketio.Socket) error {
		name := name(s)
		s.Cleanup(func() { rec.add("cleanup " + name) })
		s.Cleanup(func() { rec.add("cleanup2 " + name) })
		return nil
	})
	ns.Use(func(s *socketio.Socket) error {
		if name(s) == "refused" {
			return &socketio.ConnectError{Message: "no"}
		}
		return nil
	})
	ns.OnDisconnect(func(s *socketio.Socket, _ socketio.DisconnectReason) { rec.add("disconnect " + name(s)) })
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
	wait.Until(t, "cleanup of the refused socket", func() bool { return rec.has("cleanup refused") })

	c, err := siotest.Connect(ctx, hs.URL, siotest.Options{Auth: map[string]string{"n": "kept"}})
	if err != nil || c.Refused != nil {
		t.Fatalf("connection: %v %+v", err, c)
	}
	if rec.has("cleanup kept") {
		t.Fatal("cleanup ran while the socket is connected")
	}
	c.Close()
	wait.Until(t, "cleanup of the disconnected socket", func() bool { return rec.has("cleanup kept") })

	sockets := rec.list()
	want := []string{"cleanup2 refused", "cleanup refused", "disconnect kept", "cleanup2 kept", "cleanup kept"}
	if len(sockets) != len(want) {
		t.Fatalf("events %q, want %q", sockets, want)
	}
	for i := range want {
		if sockets[i] != want[i] {
			t.Fatalf("events %q, want %q", sockets, want)
		}
	}
}

func TestCleanupAfterTheEndRunsAtOnce(t *testing.T) {
	srv := socketio.NewServer(socketio.Options{})
	var late = make(chan *socketio.Socket, 1)
	srv.Of("/").Use(func(s *socketio.Socket) error {
		late <- s
		return errors.New("refused")
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := siotest.Connect(ctx, hs.URL, siotest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-late
	ran := false
	s.Cleanup(func() { ran = true })
	if !ran {
		t.Fatal("a cleanup registered after the socket ended did not run at once")
	}
}

func name(s *socketio.Socket) string {
	var a struct{ N string }
	_ = json.Unmarshal(s.Auth(), &a)
	return a.N
}
