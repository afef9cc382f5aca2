package adminui

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio"
)

// hub serves the UIs connected to this node: it gives each the sockets of every node
// (all_sockets), then forwards the reports of every node (server_stats and the changes) to
// it, without a gap or a duplicate between the two.
type hub struct {
	ui *UI
	ns *socketio.Namespace

	mu      sync.Mutex
	ready   map[*socketio.Socket]struct{}      // have had all_sockets: get reports as they come
	pending map[*socketio.Socket]*[]heldChange // waiting for all_sockets: reports are held
	synced  map[string]string                  // node → epoch of the snapshot the UIs last got

	resyncMu      sync.Mutex
	resyncRunning bool
	resyncAgain   bool
	lastResync    time.Time
}

// heldChange is a forwarded packet held for a UI until its all_sockets is sent; changes carry
// their node, epoch and sequence number, so that those the snapshot already includes are
// dropped.
type heldChange struct {
	node, epoch string
	seq         uint64 // 0: not a change (stats, traffic): always sent
	e           *socketio.Encoded
}

// resyncGap is the least time between two fetches of every node's sockets for the connected
// UIs (after a node dropped changes, started, or did not answer).
const resyncGap = 5 * time.Second

func newHub(ui *UI, ns *socketio.Namespace) *hub {
	return &hub{ui: ui, ns: ns, ready: map[*socketio.Socket]struct{}{}, pending: map[*socketio.Socket]*[]heldChange{},
		synced: map[string]string{}}
}

// count returns the number of UIs connected to this node.
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ready) + len(h.pending)
}

// add takes a UI that has just connected: it gets all_sockets, then the reports.
func (h *hub) add(s *socketio.Socket) {
	h.ui.publishWatch()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !s.Connected() {
		return // already gone (remove ran first)
	}
	h.pending[s] = &[]heldChange{}
	go h.sync([]*socketio.Socket{s})
}

// remove forgets a UI that disconnected.
func (h *hub) remove(s *socketio.Socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.ready, s)
	delete(h.pending, s)
}

// sync sends all_sockets to UIs that are pending: the shown sockets of this node and of every
// node that answers, then what was held for them meanwhile.
func (h *hub) sync(targets []*socketio.Socket) {
	snaps := []snapshot{h.ui.reporter.snapshot(h.ui.lease)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	replies, err := h.ui.cfg.Cluster.Ask(ctx, opSockets, nil)
	cancel()
	incomplete := err != nil || len(replies.Missing) > 0
	if err != nil {
		h.ui.log.WithError(err).Warn("admin ui: asking the other nodes for their sockets")
	}
	for node, body := range replies.ByNode {
		var sn snapshot
		if err := json.Unmarshal(body, &sn); err != nil {
			h.ui.log.WithError(err).WithField("node", node).Warn("admin ui: bad reply")
			incomplete = true
			continue
		}
		snaps = append(snaps, sn)
	}
	all := []SocketView{}
	bySnap := map[string]snapshot{}
	for _, sn := range snaps {
		all = append(all, sn.Sockets...)
		bySnap[sn.Node] = sn
	}
	b, _ := json.Marshal(all)
	enc := h.ns.EncodeEvent("all_sockets", b)

	h.mu.Lock()
	for node, sn := range bySnap {
		h.synced[node] = sn.Epoch
	}
	for _, s := range targets {
		held, ok := h.pending[s]
		if !ok {
			continue // disconnected meanwhile
		}
		_ = s.SendEncoded(enc)
		for _, c := range *held {
			if sn, ok := bySnap[c.node]; ok && c.seq != 0 && c.epoch == sn.Epoch && c.seq <= sn.Seq {
				continue // in the snapshot already
			}
			_ = s.SendEncoded(c.e)
		}
		delete(h.pending, s)
		h.ready[s] = struct{}{}
	}
	h.mu.Unlock()
	if incomplete {
		h.resync()
	}
}

// resync fetches every node's sockets again for all connected UIs, at most once per
// resyncGap (a request made meanwhile runs once the gap has passed).
func (h *hub) resync() {
	h.resyncMu.Lock()
	defer h.resyncMu.Unlock()
	if h.resyncRunning {
		h.resyncAgain = true
		return
	}
	h.resyncRunning = true
	wait := time.Until(h.lastResync.Add(resyncGap))
	go func() {
		time.Sleep(max(wait, 0))
		h.runResync()
	}()
}

func (h *hub) runResync() {
	h.mu.Lock()
	targets := make([]*socketio.Socket, 0, len(h.ready))
	for s := range h.ready {
		targets = append(targets, s)
		h.pending[s] = &[]heldChange{}
	}
	clear(h.ready)
	h.mu.Unlock()
	if len(targets) > 0 {
		h.sync(targets)
	}
	h.resyncMu.Lock()
	h.lastResync, h.resyncRunning = time.Now(), false
	again := h.resyncAgain
	h.resyncAgain = false
	h.resyncMu.Unlock()
	if again {
		h.resync()
	}
}

// onReport forwards a node's report to the UIs connected here. It runs on the goroutine that
// delivers control messages: it only queues packets.
func (h *hub) onReport(payload []byte) {
	if h.count() == 0 {
		return
	}
	var r report
	if err := json.Unmarshal(payload, &r); err != nil {
		h.ui.log.WithError(err).Warn("admin ui: ignored a malformed report")
		return
	}
	var out []heldChange
	if len(r.Stats) > 0 {
		out = append(out, heldChange{e: h.ns.EncodeEvent("server_stats", r.Stats)})
	}
	for i, c := range r.Changes {
		if e := h.encode(c); e != nil {
			out = append(out, heldChange{node: r.Node, epoch: r.Epoch, seq: r.Seq + uint64(i), e: e})
		}
	}
	for _, c := range r.Traffic {
		if e := h.encode(c); e != nil {
			out = append(out, heldChange{e: e})
		}
	}
	h.mu.Lock()
	for s := range h.ready {
		for _, c := range out {
			_ = s.SendEncoded(c.e)
		}
	}
	for _, held := range h.pending {
		*held = append(*held, out...)
		if len(*held) > maxHeld {
			*held = (*held)[:0]
			r.Lost = true
		}
	}
	stale := r.Lost || (len(h.ready) > 0 && h.synced[r.Node] != r.Epoch)
	h.mu.Unlock()
	if stale {
		h.resync()
	}
}

// maxHeld bounds the packets held for one UI while its all_sockets is being gathered.
const maxHeld = 10000

// encode turns a change (["event", args…]) into a packet for the UIs.
func (h *hub) encode(change json.RawMessage) *socketio.Encoded {
	var parts []json.RawMessage
	var name string
	if err := json.Unmarshal(change, &parts); err != nil || len(parts) == 0 || json.Unmarshal(parts[0], &name) != nil {
		h.ui.log.WithField("change", string(change)).Warn("admin ui: ignored a malformed change")
		return nil
	}
	return h.ns.EncodeEvent(name, parts[1:]...)
}

// logAction logs what a UI asked for.
func (h *hub) logAction(s *socketio.Socket, what string, fields logrus.Fields) {
	h.ui.log.WithFields(fields).WithField("remote", s.Conn().RemoteAddr()).Info("admin ui: " + what)
}
