package adminui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/socketio"
)

// app is a Socket.IO server whose "/" namespace a reporter observes, with the reports it
// publishes.
type app struct {
	t   *testing.T
	io  *socketio.Server
	url string
	rep *reporter

	mu      sync.Mutex
	reports []report
}

func newApp(t *testing.T, maxSockets int) *app {
	t.Helper()
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	a := &app{t: t, io: socketio.NewServer(socketio.Options{Logger: log})}
	ns := a.io.Of("/")
	a.rep = newReporter("node-a", a.io, []*socketio.Namespace{ns}, func(s *socketio.Socket) any {
		return map[string]string{"user": "u-" + s.ID()[:4]}
	}, a.publish, maxSockets)
	ns.Observe(a.rep)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", a.io)
	srv := httptest.NewServer(mux)
	a.url = srv.URL
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() { defer close(stopped); a.rep.run(done) }()
	t.Cleanup(func() {
		close(done)
		<-stopped
		srv.CloseClientConnections()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		a.io.Shutdown(ctx)
		srv.Close()
	})
	return a
}

func (a *app) publish(msg []byte) bool {
	if len(msg) > cluster.MaxMessageBytes {
		a.t.Errorf("a report of %d bytes does not fit NOTIFY", len(msg))
	}
	var r report
	if err := json.Unmarshal(msg, &r); err != nil {
		a.t.Errorf("report %s: %v", msg, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reports = append(a.reports, r)
	return true
}

// connect opens n clients on "/".
func (a *app) connect(n int) []*siotest.Conn {
	a.t.Helper()
	var out []*siotest.Conn
	for range n {
		c, err := siotest.Connect(context.Background(), a.url, siotest.Options{})
		if err != nil || c.Refused != nil {
			a.t.Fatalf("connect: %v %v", err, c.Refused)
		}
		a.t.Cleanup(func() { c.Close() })
		out = append(out, c)
	}
	return out
}

// changes returns the names and first distinctive argument of every change reported so far,
// checking that sequence numbers follow each other within the epoch.
func (a *app) changes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	next := uint64(1)
	for _, r := range a.reports {
		if len(r.Changes) > 0 && r.Seq != next {
			a.t.Errorf("report seq %d, want %d", r.Seq, next)
		}
		for _, c := range r.Changes {
			var parts []json.RawMessage
			_ = json.Unmarshal(c, &parts)
			out = append(out, strings.Trim(string(parts[0]), `"`))
			next++
		}
	}
	return out
}

func (a *app) lastStats() serverStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.reports) - 1; i >= 0; i-- {
		if len(a.reports[i].Stats) > 0 {
			var st serverStats
			_ = json.Unmarshal(a.reports[i].Stats, &st)
			return st
		}
	}
	return serverStats{}
}

func (a *app) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reports)
}

// Unwatched, a node publishes nothing however its sockets come and go.
func TestUnwatchedNodeIsSilent(t *testing.T) {
	a := newApp(t, 10)
	for _, c := range a.connect(5) {
		c.Close()
	}
	time.Sleep(3 * flushEvery)
	if n := a.count(); n != 0 || a.rep.active.Load() {
		t.Fatalf("%d reports published by a node nobody watches (active %v)", n, a.rep.active.Load())
	}
}

// Watched, a node reports its stats and the changes of its shown sockets, in order; it shows
// at most maxSockets; the watch ends with its lease.
func TestWatchedNodeReports(t *testing.T) {
	a := newApp(t, 3)
	before := a.connect(2)
	snap := a.rep.snapshot(time.Hour)
	if len(snap.Sockets) != 2 || snap.Seq != 0 || snap.Epoch == "" || snap.Node != "node-a" {
		t.Fatalf("snapshot %+v", snap)
	}
	v := snap.Sockets[0]
	if v.Nsp != "/" || v.Transport != "websocket" || v.ClientID == "" || len(v.ClientID) != 12 || v.Handshake.Address == "" {
		t.Fatalf("view %+v", v)
	}
	wait.Until(t, "server_stats", func() bool { return a.lastStats().ServerID == "node-a" })
	if st := a.lastStats(); st.ClientsCount != 2 || st.Namespaces[0].SocketsCount != 2 || st.PID == 0 {
		t.Fatalf("stats %+v", st)
	}

	more := a.connect(2) // one shown (3 at most), one not
	s := a.io.Of("/").Socket(before[0].SID)
	s.Join("chat:1", "chat:2")
	s.Leave("chat:1")
	before[1].Close()
	_ = more
	want := []string{"socket_connected", "room_joined", "room_joined", "room_left", "socket_disconnected"}
	wait.Until(t, "the changes", func() bool { return strings.Join(a.changes(), " ") == strings.Join(want, " ") })
	if snap := a.rep.snapshot(time.Hour); len(snap.Sockets) != 2 || snap.Seq != uint64(len(want)) {
		t.Fatalf("snapshot after the changes: %d sockets, seq %d", len(snap.Sockets), snap.Seq)
	}
	// The counts are complete, whatever is shown.
	wait.Until(t, "stats with every socket", func() bool {
		st := a.lastStats()
		return st.ClientsCount == 3 && hasAggregated(st, "rawConnection") && hasAggregated(st, "rawDisconnection")
	})

	// The lease ends: the node stops following its sockets.
	a.rep.leaseUntil.Store(time.Now().UnixNano())
	wait.Until(t, "the watch to end", func() bool { return !a.rep.active.Load() })
	n := a.count()
	a.connect(1)
	time.Sleep(3 * flushEvery)
	if a.count() != n {
		t.Fatal("a node whose lease ended still reports")
	}
}

func hasAggregated(st serverStats, typ string) bool {
	for _, e := range st.AggregatedEvents {
		if e.Type == typ && e.Count > 0 {
			return true
		}
	}
	return false
}

// A node publishes at most maxFlushBytes of changes per flush, in messages that fit NOTIFY;
// when it has more, it drops them and says so.
func TestReportsAreBounded(t *testing.T) {
	a := newApp(t, 1000)
	conns := a.connect(1)
	a.rep.snapshot(time.Hour)
	s := a.io.Of("/").Socket(conns[0].SID)
	start := time.Now()
	for i := range 2000 {
		s.Join(fmt.Sprintf("chat:%04d-%s", i, strings.Repeat("x", 40)))
	}
	wait.Until(t, "a lossy report", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, r := range a.reports {
			if r.Lost {
				return true
			}
		}
		return false
	})
	time.Sleep(2 * flushEvery)
	a.mu.Lock()
	changeBytes := 0
	for _, r := range a.reports {
		for _, c := range r.Changes {
			changeBytes += len(c)
		}
	}
	a.mu.Unlock()
	// At most maxFlushBytes per flush, however fast the changes come.
	if flushes := int(time.Since(start)/flushEvery) + 1; changeBytes > flushes*maxFlushBytes {
		t.Fatalf("%d bytes of changes published in %d flushes", changeBytes, flushes)
	}
	if got := len(a.changes()); got == 0 || got >= 2000 {
		t.Fatalf("%d of 2000 changes reported", got)
	}
}

func TestSplitReport(t *testing.T) {
	var changes []json.RawMessage
	for i := range 50 {
		changes = append(changes, json.RawMessage(fmt.Sprintf(`["room_joined","/","%0500d","sid",%d]`, i, i)))
	}
	msgs := splitReport(report{Type: msgReport, Node: "n", Epoch: "e", Seq: 7}, json.RawMessage(`{"serverId":"n"}`), changes, nil)
	next := uint64(7)
	for i, m := range msgs {
		if len(m) > maxMessageBytes {
			t.Fatalf("message %d: %d bytes", i, len(m))
		}
		var r report
		if err := json.Unmarshal(m, &r); err != nil {
			t.Fatal(err)
		}
		if r.Seq != next || (i == 0) != (len(r.Stats) > 0) {
			t.Fatalf("message %d: seq %d (want %d), stats %s", i, r.Seq, next, r.Stats)
		}
		next += uint64(len(r.Changes))
	}
	if next != 57 || len(msgs) < 4 {
		t.Fatalf("%d messages carry %d changes", len(msgs), next-7)
	}
}

// The hooks of a node nobody watches cost an atomic load.
func BenchmarkObserverUnwatched(b *testing.B) {
	rep := newReporter("n", socketio.NewServer(socketio.Options{}), nil, nil, func([]byte) bool { return true }, 10)
	e := &socketio.Event{Name: "x"}
	b.ReportAllocs()
	for b.Loop() {
		rep.Connected(nil)
		rep.Joined(nil, nil)
		rep.Left(nil, "")
		rep.Received(nil, e)
		rep.sent("/", nil, "", nil)
		rep.Disconnected(nil, "")
		rep.read(100)
		rep.written(nil)
	}
}
