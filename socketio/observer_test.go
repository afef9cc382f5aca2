package socketio

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is an Observer that writes what it is told as lines.
type recorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *recorder) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
}

func (r *recorder) Connected(s *Socket) {
	rooms := s.Rooms()
	slices.Sort(rooms)
	r.add("connected " + s.ID() + " " + strings.Join(rooms, ","))
}
func (r *recorder) Disconnected(s *Socket, reason DisconnectReason) {
	r.add("disconnected " + s.ID() + " " + string(reason))
}
func (r *recorder) Joined(s *Socket, rooms []string) {
	r.add("joined " + s.ID() + " " + strings.Join(rooms, ","))
}
func (r *recorder) Left(s *Socket, room string) { r.add("left " + s.ID() + " " + room) }
func (r *recorder) Received(s *Socket, e *Event) {
	r.add("received " + s.ID() + " " + e.Name + " " + string(e.Args[0]))
}

func (r *recorder) waitLines(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		r.mu.Lock()
		got := slices.Clone(r.lines)
		r.mu.Unlock()
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("observed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An Observer sees a socket connect with the rooms its middlewares gave it, its joins and
// leaves (only real changes), its events and its disconnect; OnRead counts what clients send.
func TestObserver(t *testing.T) {
	var read atomic.Int64
	ts := newTestServer(t, Options{OnRead: func(n int) { read.Add(int64(n)) }})
	rec := &recorder{}
	ns := ts.io.Of("/observed")
	ts.setup(ns)
	ns.Observe(rec)
	ns.Use(func(s *Socket) error { s.Join("from-middleware"); return nil })
	ns.On("join", func(s *Socket, e *Event) { s.Join("a", "b", "from-middleware") })
	ns.On("leave", func(s *Socket, e *Event) { s.Leave("a"); s.Leave("not-in") })

	c := ts.dialWebsocket(t)
	id := connect(t, c, "/observed", "")
	if ts.io.Of("/observed").Socket(id) == nil || ts.io.Of("/observed").Socket("nope") != nil {
		t.Fatal("Namespace.Socket does not find the socket by id")
	}
	c.send(text(`2/observed,["join",1]`), text(`2/observed,["leave",2]`), text(`1/observed,`))
	want := []string{
		"connected " + id + " from-middleware",
		"received " + id + " join 1",
		"joined " + id + " a,b",
		"received " + id + " leave 2",
		"left " + id + " a",
		"disconnected " + id + " client namespace disconnect",
	}
	rec.waitLines(t, want...)
	if read.Load() == 0 {
		t.Fatal("OnRead was not called")
	}
	// Other namespaces are not observed.
	other := ts.dialWebsocket(t)
	connect(t, other, "/", "")
	echoes(t, other, "unobserved")
	rec.waitLines(t, want...)
}
