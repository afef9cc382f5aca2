package adminui

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/realtimed/realtimed/socketio"
	"github.com/realtimed/realtimed/socketio/engineio"
)

// Limits of what one node reports while an Admin UI watches. They bound the NOTIFY traffic a
// node adds, whatever its number of sockets and their churn.
const (
	// flushEvery is how often a watched node publishes the changes of its shown sockets.
	flushEvery = 250 * time.Millisecond
	// statsEvery is how often it publishes its server_stats (instrument() sends them every 2s;
	// the UI counts a server silent for 10s as unhealthy).
	statsEvery = 2 * time.Second
	// maxFlushBytes bounds the socket changes published per flush (64 KB/s per node). Changes
	// beyond it are dropped and the report says so; the UIs then fetch the sockets again.
	maxFlushBytes = 16 << 10
	// maxTrafficBytes bounds the client events (event_received) published per flush; beyond
	// it they are dropped (the Events page then shows a sample).
	maxTrafficBytes = 4 << 10
	// maxEventBytes bounds one change; a larger one (a socket in very many rooms) is dropped
	// as if over the budget.
	maxEventBytes = 6000
	// maxMessageBytes bounds one report (NOTIFY carries less than 8000 bytes).
	maxMessageBytes = 7800
	// maxArgsBytes bounds the arguments of an event_received shown in full.
	maxArgsBytes = 1024
)

// processStart is when the process started, for server_stats' uptime.
var processStart = time.Now()

// reporter is this node's part of every Admin UI's view. While some UI watches (a lease that
// watch messages renew), it follows up to maxSockets of the node's sockets (the "shown"
// ones: those that were there when it started, then new ones while there is room), turns
// their changes into the UI's events, and publishes them with the node's server_stats on the
// control channel. While no UI watches, each of its hooks returns after one atomic load, and
// its goroutine sleeps.
type reporter struct {
	node       string
	hostname   string
	app        *socketio.Server
	namespaces []*socketio.Namespace
	describe   func(*socketio.Socket) any
	publish    func([]byte) bool
	maxSockets int

	active     atomic.Bool
	leaseUntil atomic.Int64 // Unix nanoseconds
	wake       chan struct{}

	packetsIn, bytesIn, packetsOut, bytesOut atomic.Int64

	mu          sync.Mutex
	epoch       string                                   // names this watch period
	seq         uint64                                   // sequence number of the last change
	shown       map[*socketio.Socket]string              // → the transport last reported
	rooms       map[string]map[*socketio.Socket]struct{} // the shown sockets by room
	changes     []json.RawMessage                        // since the last flush
	changeBytes int
	traffic     []json.RawMessage // event_received and event_sent since the last flush
	trafficSize int
	lost        bool           // changes were dropped since the last flush
	connects    int            // since the last stats
	disconnects map[string]int // by reason, since the last stats
	lastStats   time.Time
}

func newReporter(node string, app *socketio.Server, namespaces []*socketio.Namespace, describe func(*socketio.Socket) any,
	publish func([]byte) bool, maxSockets int) *reporter {
	host, _ := os.Hostname()
	return &reporter{
		node: node, hostname: host, app: app, namespaces: namespaces, describe: describe, publish: publish,
		maxSockets: maxSockets, wake: make(chan struct{}, 1),
	}
}

// watch starts or extends the watch period until until. On a start, the node begins to
// follow its sockets (a new epoch) and wakes its goroutine.
func (r *reporter) watch(until time.Time) {
	for {
		old := r.leaseUntil.Load()
		if old >= until.UnixNano() || r.leaseUntil.CompareAndSwap(old, until.UnixNano()) {
			break
		}
	}
	if r.active.Load() {
		return
	}
	r.mu.Lock()
	if !r.active.Load() {
		r.start()
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// start begins a watch period. r.mu is held. The period is marked active before the sockets
// are listed, so that a socket that connects meanwhile is either listed or reported.
func (r *reporter) start() {
	var b [6]byte
	_, _ = rand.Read(b[:])
	r.epoch, r.seq, r.lost = hex.EncodeToString(b[:]), 0, false
	r.shown = make(map[*socketio.Socket]string)
	r.rooms = make(map[string]map[*socketio.Socket]struct{})
	r.changes, r.changeBytes, r.traffic, r.trafficSize = nil, 0, nil, 0
	r.connects, r.disconnects, r.lastStats = 0, map[string]int{}, time.Time{}
	for _, c := range []*atomic.Int64{&r.packetsIn, &r.bytesIn, &r.packetsOut, &r.bytesOut} {
		c.Store(0)
	}
	r.active.Store(true)
	for _, ns := range r.namespaces {
		for _, s := range ns.Sockets() {
			if len(r.shown) >= r.maxSockets {
				return
			}
			r.showLocked(s, s.Conn().Transport(), s.Rooms())
		}
	}
}

// stop ends the watch period: nothing is followed any more.
func (r *reporter) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active.Store(false)
	r.shown, r.rooms, r.changes, r.traffic, r.disconnects = nil, nil, nil, nil, nil
}

// showLocked starts following a socket. r.mu is held.
func (r *reporter) showLocked(s *socketio.Socket, transport string, rooms []string) {
	r.shown[s] = transport
	r.indexLocked(s, rooms...)
}

// hideLocked stops following a socket. r.mu is held.
func (r *reporter) hideLocked(s *socketio.Socket) {
	delete(r.shown, s)
	for room, members := range r.rooms {
		if _, ok := members[s]; ok {
			r.unindexLocked(s, room)
		}
	}
}

func (r *reporter) indexLocked(s *socketio.Socket, rooms ...string) {
	for _, room := range rooms {
		members := r.rooms[room]
		if members == nil {
			members = make(map[*socketio.Socket]struct{}, 1)
			r.rooms[room] = members
		}
		members[s] = struct{}{}
	}
}

func (r *reporter) unindexLocked(s *socketio.Socket, room string) {
	delete(r.rooms[room], s)
	if len(r.rooms[room]) == 0 {
		delete(r.rooms, room)
	}
}

// run publishes reports while the node is watched, and sleeps otherwise, until done closes.
func (r *reporter) run(done <-chan struct{}) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		if !r.active.Load() {
			select {
			case <-done:
				return
			case <-r.wake:
			}
		}
		if time.Now().UnixNano() > r.leaseUntil.Load() {
			r.stop()
			continue
		}
		r.flush(time.Now())
		select {
		case <-done:
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

// Observer methods (socketio.Observer), for the namespaces the UI shows.

// whileWatched runs f under r.mu when the node is watched; otherwise it costs one atomic load.
func (r *reporter) whileWatched(f func(now time.Time)) {
	if !r.active.Load() {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active.Load() {
		f(now)
	}
}

func (r *reporter) Connected(s *socketio.Socket) {
	r.whileWatched(func(now time.Time) {
		r.connects++
		if _, ok := r.shown[s]; ok || len(r.shown) >= r.maxSockets || !s.Connected() {
			return
		}
		v := viewOf(s, r.describe)
		r.showLocked(s, v.Transport, v.Rooms)
		r.changeLocked("socket_connected", v, now)
	})
}

func (r *reporter) Disconnected(s *socketio.Socket, reason socketio.DisconnectReason) {
	r.whileWatched(func(now time.Time) {
		r.disconnects[string(reason)]++
		if _, ok := r.shown[s]; ok {
			r.hideLocked(s)
			r.changeLocked("socket_disconnected", s.Namespace().Name(), s.ID(), string(reason), now)
		}
	})
}

func (r *reporter) Joined(s *socketio.Socket, rooms []string) {
	r.whileWatched(func(now time.Time) {
		if _, ok := r.shown[s]; ok {
			r.indexLocked(s, rooms...)
			for _, room := range rooms {
				r.changeLocked("room_joined", s.Namespace().Name(), room, s.ID(), now)
			}
		}
	})
}

func (r *reporter) Left(s *socketio.Socket, room string) {
	r.whileWatched(func(now time.Time) {
		if _, ok := r.shown[s]; ok {
			r.unindexLocked(s, room)
			r.changeLocked("room_left", s.Namespace().Name(), room, s.ID(), now)
		}
	})
}

func (r *reporter) Received(s *socketio.Socket, e *socketio.Event) {
	r.whileWatched(func(now time.Time) {
		if _, ok := r.shown[s]; ok {
			r.trafficLocked("event_received", s, e.Name, e.Args, len(e.Attachments), now)
		}
	})
}

// sent reports an event delivered to rooms of namespace nsp, for the shown sockets in them.
func (r *reporter) sent(nsp string, rooms []string, event string, args []json.RawMessage) {
	r.whileWatched(func(now time.Time) {
		seen := map[*socketio.Socket]bool{}
		for _, room := range rooms {
			for s := range r.rooms[room] {
				if seen[s] || s.Namespace().Name() != nsp {
					continue
				}
				seen[s] = true
				if !r.trafficLocked("event_sent", s, event, args, 0, now) {
					return
				}
			}
		}
	})
}

// trafficLocked buffers an event a shown socket received or was sent, its arguments shown
// unless they are large; it reports false when the flush's budget is spent. r.mu is held.
func (r *reporter) trafficLocked(kind string, s *socketio.Socket, event string, args []json.RawMessage, attachments int, now time.Time) bool {
	if r.trafficSize >= maxTrafficBytes {
		return false
	}
	shown := make([]any, 0, len(args)+1)
	shown = append(shown, event)
	size := 0
	for _, a := range args {
		size += len(a)
	}
	if size > maxArgsBytes || attachments > 0 {
		shown = append(shown, "(arguments not shown: "+strconv.Itoa(size)+" bytes, "+strconv.Itoa(attachments)+" attachments)")
	} else {
		for _, a := range args {
			shown = append(shown, a)
		}
	}
	b, err := json.Marshal([]any{kind, s.Namespace().Name(), s.ID(), shown, now.UTC()})
	if err != nil {
		return true
	}
	r.traffic = append(r.traffic, b)
	r.trafficSize += len(b)
	return true
}

// read counts a message a client sent (socketio.Options.OnRead).
func (r *reporter) read(size int) {
	if r.active.Load() {
		r.packetsIn.Add(1)
		r.bytesIn.Add(int64(size))
	}
}

// written counts messages written to clients (engineio.Options.OnWrite).
func (r *reporter) written(msgs []*engineio.Message) {
	if !r.active.Load() {
		return
	}
	n := 0
	for _, m := range msgs {
		n += m.Size()
	}
	r.packetsOut.Add(int64(len(msgs)))
	r.bytesOut.Add(int64(n))
}

// changeLocked buffers one change of a shown socket, with the next sequence number, or drops
// it (and marks the report lossy) when it is over the budget. r.mu is held.
func (r *reporter) changeLocked(args ...any) {
	b, err := json.Marshal(args)
	if err != nil || len(b) > maxEventBytes || r.changeBytes+len(b) > maxFlushBytes {
		r.lost = true
		return
	}
	r.seq++
	r.changes = append(r.changes, b)
	r.changeBytes += len(b)
}

// report is the control message a watched node publishes.
type report struct {
	Type  string `json:"type"`
	Node  string `json:"node"`
	Epoch string `json:"epoch"`
	// Seq is the sequence number of Changes[0] (they follow each other).
	Seq     uint64            `json:"seq"`
	Changes []json.RawMessage `json:"changes,omitempty"`
	Traffic []json.RawMessage `json:"traffic,omitempty"`
	Stats   json.RawMessage   `json:"stats,omitempty"`
	// Lost says that changes were dropped: the UIs must fetch the sockets again.
	Lost bool `json:"lost,omitempty"`
}

// flush publishes what happened since the last flush, and the stats when they are due.
func (r *reporter) flush(now time.Time) {
	r.mu.Lock()
	if !r.active.Load() {
		r.mu.Unlock()
		return
	}
	var stats json.RawMessage
	if now.Sub(r.lastStats) >= statsEvery {
		r.transportChangesLocked()
		stats = r.statsLocked(now)
		r.lastStats = now
	}
	base := report{Type: msgReport, Node: r.node, Epoch: r.epoch, Seq: r.seq - uint64(len(r.changes)) + 1, Lost: r.lost}
	changes, traffic := r.changes, r.traffic
	r.changes, r.changeBytes, r.traffic, r.trafficSize, r.lost = nil, 0, nil, 0, false
	r.mu.Unlock()
	if stats == nil && len(changes) == 0 && len(traffic) == 0 && !base.Lost {
		return
	}
	for _, msg := range splitReport(base, stats, changes, traffic) {
		r.publish(msg)
	}
}

// reportOverhead is a generous size of a report's fields besides its changes and traffic.
const reportOverhead = 200

// splitReport packs a report into messages that fit NOTIFY, in order; each message's Seq is
// the sequence number of its first change.
func splitReport(base report, stats json.RawMessage, changes, traffic []json.RawMessage) [][]byte {
	var out [][]byte
	cur := base
	cur.Stats = stats
	size := reportOverhead + len(stats)
	next := base.Seq
	emit := func() {
		b, _ := json.Marshal(cur)
		out = append(out, b)
		cur = report{Type: base.Type, Node: base.Node, Epoch: base.Epoch, Seq: next}
		size = reportOverhead
	}
	for _, c := range changes {
		if size+len(c)+1 > maxMessageBytes {
			emit()
		}
		cur.Changes = append(cur.Changes, c)
		next++
		size += len(c) + 1
	}
	for _, c := range traffic {
		if size+len(c)+1 > maxMessageBytes {
			emit()
		}
		cur.Traffic = append(cur.Traffic, c)
		size += len(c) + 1
	}
	emit()
	return out
}

// transportChangesLocked reports the shown sockets whose transport changed (an upgrade from
// polling to websocket). r.mu is held.
func (r *reporter) transportChangesLocked() {
	for s, reported := range r.shown {
		if t := s.Conn().Transport(); t != reported {
			r.shown[s] = t
			r.changeLocked("socket_updated", map[string]string{"id": s.ID(), "nsp": s.Namespace().Name(), "transport": t})
		}
	}
}

// serverStats is instrument()'s server_stats.
type serverStats struct {
	ServerID            string           `json:"serverId"`
	Hostname            string           `json:"hostname"`
	PID                 int              `json:"pid"`
	Uptime              float64          `json:"uptime"`
	ClientsCount        int              `json:"clientsCount"`
	PollingClientsCount int              `json:"pollingClientsCount"`
	AggregatedEvents    []aggregated     `json:"aggregatedEvents"`
	Namespaces          []namespaceCount `json:"namespaces"`
}

// aggregated is a count of one kind of event (the dashboard's charts).
type aggregated struct {
	Timestamp int64  `json:"timestamp"` // Unix milliseconds
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int64  `json:"count"`
}

type namespaceCount struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// statsLocked builds server_stats and resets the counts. r.mu is held.
func (r *reporter) statsLocked(now time.Time) json.RawMessage {
	st := serverStats{ServerID: r.node, Hostname: r.hostname, PID: os.Getpid(), Uptime: now.Sub(processStart).Seconds(),
		AggregatedEvents: []aggregated{}}
	for t, n := range r.app.Engine().TransportCounts() {
		st.ClientsCount += n
		if t == "polling" {
			st.PollingClientsCount += n
		}
	}
	for _, ns := range r.namespaces {
		st.Namespaces = append(st.Namespaces, namespaceCount{Name: ns.Name(), SocketsCount: ns.Count()})
	}
	ts := now.Truncate(time.Second).UnixMilli()
	add := func(typ, sub string, n int64) {
		if n > 0 {
			st.AggregatedEvents = append(st.AggregatedEvents, aggregated{Timestamp: ts, Type: typ, SubType: sub, Count: n})
		}
	}
	add("rawConnection", "", int64(r.connects))
	reasons := make([]string, 0, len(r.disconnects))
	for reason := range r.disconnects {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		add("rawDisconnection", reason, int64(r.disconnects[reason]))
	}
	add("packetsIn", "", r.packetsIn.Swap(0))
	add("bytesIn", "", r.bytesIn.Swap(0))
	add("packetsOut", "", r.packetsOut.Swap(0))
	add("bytesOut", "", r.bytesOut.Swap(0))
	r.connects, r.disconnects = 0, map[string]int{}
	b, _ := json.Marshal(st)
	return b
}

// snapshot is what a node answers when a UI asks for its sockets: the shown sockets, and the
// epoch and sequence number of the last change they include.
type snapshot struct {
	Node    string       `json:"node"`
	Epoch   string       `json:"epoch"`
	Seq     uint64       `json:"seq"`
	Sockets []SocketView `json:"sockets"`
}

// snapshot starts or extends the watch period and describes the shown sockets.
func (r *reporter) snapshot(lease time.Duration) snapshot {
	r.watch(time.Now().Add(lease))
	r.mu.Lock()
	defer r.mu.Unlock()
	out := snapshot{Node: r.node, Epoch: r.epoch, Seq: r.seq, Sockets: make([]SocketView, 0, len(r.shown))}
	for s := range r.shown {
		if s.Connected() {
			out.Sockets = append(out.Sockets, viewOf(s, r.describe))
		}
	}
	sort.Slice(out.Sockets, func(i, j int) bool { return out.Sockets[i].ID < out.Sockets[j].ID })
	return out
}
