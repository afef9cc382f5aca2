package bus

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/internal/pause"
	"github.com/realtimed/realtimed/listener"
)

// SubscriberConfig configures a Subscriber. Zero values select the documented defaults.
type SubscriberConfig struct {
	// Conn is the node's connection to NATS. Required.
	Conn *Conn
	// Prefix starts every subject. Empty means "realtime".
	Prefix string
	// Pool reads the stream when the node may have missed messages. Required.
	Pool *pgxpool.Pool
	// Deliver receives each event once, in commit order, on the subscriber's goroutine
	// (router.Deliver). Required.
	Deliver func(*listener.Envelope)
	// Always are rooms subscribed whatever the sockets (router.InternalRoom).
	Always []string
	// UserOf tells user rooms (and their user) from other rooms, for the catch-up's filter
	// (router.UserOfRoom). Required.
	UserOf func(room string) (string, bool)
	// Queue is how many messages may wait for the subscriber before NATS drops them (a slow
	// consumer: the subscriber then reads PostgreSQL). Zero means 65536.
	Queue int
	// Linger is how long a room stays subscribed after its last socket left (a reconnecting
	// user finds it still there). Zero means 5s.
	Linger time.Duration
	// SubscribeTimeout bounds the wait for NATS to confirm a subscription; past it the room's
	// events are read from PostgreSQL. Zero means 5s.
	SubscribeTimeout time.Duration
	// StaleAfter is how long the publisher's heartbeats may stay away before it is logged.
	// Zero means 5s.
	StaleAfter time.Duration
	// Logger receives gaps, catch-ups and failures. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// SubscriberStats are counters since the node started.
type SubscriberStats struct {
	Received      uint64 // messages received from NATS (heartbeats included)
	Delivered     uint64 // events handed to Deliver from NATS
	Duplicates    uint64 // messages for positions already delivered (an event to several rooms of the node, a republication)
	Heads         uint64 // heartbeats received
	CatchUps      uint64 // reads of PostgreSQL after a possible gap
	CaughtUp      uint64 // events handed to Deliver from PostgreSQL
	Skipped       uint64 // messages that were not valid events
	Subscriptions int    // subjects subscribed now: the rooms, the Always rooms, the heartbeats
	Position      int64  // position delivered through
	HeadAge       time.Duration
}

// roomSub is one room's subscription, shared by the sockets in the room.
type roomSub struct {
	refs  int
	idle  time.Time     // when refs fell to 0
	ready chan struct{} // closed once the subscription is confirmed (or given up on)
	sub   *nats.Subscription
}

// Subscriber delivers the events of the rooms this node's sockets are in: it is the
// namespace's socketio.Interest (Acquire, Release) and runs the delivery loop (Run).
type Subscriber struct {
	cfg  SubscriberConfig
	log  logrus.FieldLogger
	ch   chan *nats.Msg
	head string

	mu     sync.Mutex
	rooms  map[string]*roomSub
	always []*nats.Subscription

	pos         atomic.Int64
	started     atomic.Bool
	gap         atomic.Bool // a subscription was not confirmed: read PostgreSQL
	droppedGone int64       // messages dropped on subscriptions since removed (guarded by mu)
	lastHead    atomic.Int64

	// owned by the delivery goroutine
	dials   uint64
	dropped int64
	term    string
	stale   bool

	received, delivered, duplicates, heads, catchUps, caughtUp, skipped atomic.Uint64
}

// NewSubscriber returns a subscriber; set it as the namespace's Interest and Run it.
func NewSubscriber(cfg SubscriberConfig) (*Subscriber, error) {
	if cfg.Conn == nil || cfg.Pool == nil || cfg.Deliver == nil || cfg.UserOf == nil {
		return nil, errors.New("bus: SubscriberConfig.Conn, Pool, Deliver and UserOf are required")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "realtime"
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 65536
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 5 * time.Second
	}
	if cfg.SubscribeTimeout <= 0 {
		cfg.SubscribeTimeout = 5 * time.Second
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Subscriber{
		cfg: cfg, log: cfg.Logger.WithField("component", "bus"), ch: make(chan *nats.Msg, cfg.Queue),
		head: HeadSubject(cfg.Prefix), rooms: map[string]*roomSub{},
	}, nil
}

// Position returns the position delivered through: every event at or below it for the rooms
// subscribed has been handed to Deliver.
func (s *Subscriber) Position() int64 { return s.pos.Load() }

// Ready reports whether the subscriber started and is connected to NATS.
func (s *Subscriber) Ready() bool { return s.started.Load() && s.cfg.Conn.IsConnected() }

// Stats returns the subscriber's counters.
func (s *Subscriber) Stats() SubscriberStats {
	s.mu.Lock()
	subs := len(s.rooms) + len(s.always)
	s.mu.Unlock()
	st := SubscriberStats{
		Received: s.received.Load(), Delivered: s.delivered.Load(), Duplicates: s.duplicates.Load(),
		Heads: s.heads.Load(), CatchUps: s.catchUps.Load(), CaughtUp: s.caughtUp.Load(), Skipped: s.skipped.Load(),
		Subscriptions: subs, Position: s.pos.Load(),
	}
	if at := s.lastHead.Load(); at > 0 {
		st.HeadAge = time.Since(time.Unix(0, at))
	}
	return st
}

// Acquire subscribes to a room's subject for a socket entering the room, or counts one more
// socket in it. It returns once NATS confirmed the subscription, so that every event committed
// after the socket joined reaches the node; when NATS does not confirm in time, the room's
// events are read from PostgreSQL instead (a catch-up).
func (s *Subscriber) Acquire(room string) {
	s.mu.Lock()
	if r := s.rooms[room]; r != nil {
		r.refs++
		ready := r.ready
		s.mu.Unlock()
		s.wait(ready)
		return
	}
	r := &roomSub{refs: 1, ready: make(chan struct{})}
	s.rooms[room] = r
	s.mu.Unlock()
	sub, err := s.cfg.Conn.ChanSubscribe(RoomSubject(s.cfg.Prefix, room), s.ch)
	switch {
	case err != nil:
	case !s.cfg.Conn.IsConnected():
		// NATS is away: the subscription goes out when it is back, and the catch-up that
		// follows a new connection reads what the room missed. No socket waits for it.
		err = errors.New("not connected to NATS")
	default:
		err = s.cfg.Conn.FlushTimeout(s.cfg.SubscribeTimeout)
	}
	if err != nil {
		s.gap.Store(true)
		s.log.WithError(err).WithField("room", room).Debug("bus: subscription not confirmed; the room's events are read from PostgreSQL")
	}
	s.mu.Lock()
	r.sub = sub
	s.mu.Unlock()
	close(r.ready)
}

func (s *Subscriber) wait(ready chan struct{}) {
	t := time.NewTimer(s.cfg.SubscribeTimeout)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
		s.gap.Store(true)
	}
}

// Release counts one socket less in a room; the room is unsubscribed Linger after its last
// socket left. It never blocks on NATS.
func (s *Subscriber) Release(room string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[room]; r != nil && r.refs > 0 {
		r.refs--
		if r.refs == 0 {
			r.idle = time.Now()
		}
	}
}

// Run delivers until ctx ends: it subscribes to the heartbeats and the Always rooms, starts at
// the stream's head, then delivers what arrives, reading PostgreSQL whenever it may have
// missed something. It returns ctx's error.
func (s *Subscriber) Run(ctx context.Context) error {
	if err := s.start(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.unsubscribeIdle(ctx)
	}()
	defer wg.Wait()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-s.ch:
			s.received.Add(1)
			s.checkGap(ctx, true)
			s.handle(ctx, m)
		case <-tick.C:
			s.checkGap(ctx, false)
			s.checkHeartbeats()
		}
	}
}

// start subscribes to the heartbeats and the Always rooms and starts at the stream's head. It
// does not wait for NATS: the first catch-up, once NATS confirms the subscriptions, reads what
// was committed after that head.
func (s *Subscriber) start(ctx context.Context) error {
	s.mu.Lock()
	for _, subject := range append([]string{s.head}, roomSubjects(s.cfg.Prefix, s.cfg.Always)...) {
		sub, err := s.cfg.Conn.ChanSubscribe(subject, s.ch)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.always = append(s.always, sub)
	}
	s.mu.Unlock()
	for ctx.Err() == nil {
		head, err := s.readHead(ctx)
		if err == nil {
			s.pos.Store(head)
			s.gap.Store(true)
			s.started.Store(true)
			s.log.WithField("position", head).Info("bus: delivering from NATS")
			return nil
		}
		s.log.WithError(err).Warn("bus: reading the stream's head failed; retrying")
		pause.For(ctx, time.Second)
	}
	return ctx.Err()
}

func roomSubjects(prefix string, rooms []string) []string {
	out := make([]string, len(rooms))
	for i, r := range rooms {
		out[i] = RoomSubject(prefix, r)
	}
	return out
}

// confirmSubscriptions waits until NATS confirms every subscription on the current connection
// and returns the dial count from before: a later connection is a new gap.
func (s *Subscriber) confirmSubscriptions(ctx context.Context) uint64 {
	for {
		dials := s.cfg.Conn.Dials()
		err := s.cfg.Conn.FlushTimeout(2 * time.Second)
		if err == nil || ctx.Err() != nil {
			return dials
		}
		s.log.WithError(err).Debug("bus: waiting for NATS")
		pause.For(ctx, 250*time.Millisecond)
	}
}

// checkGap reads PostgreSQL when messages may have been missed since the last check: the
// connection was replaced, a subscription was not confirmed, or (only possible when the queue
// was full) NATS dropped messages.
func (s *Subscriber) checkGap(ctx context.Context, received bool) {
	why := ""
	switch {
	case s.cfg.Conn.Dials() != s.dials:
		why = "new NATS connection"
	case s.gap.Load():
		why = "subscription not confirmed"
	case (!received || len(s.ch)+1 >= cap(s.ch)) && s.droppedTotal() != s.dropped:
		why = "slow consumer: NATS dropped messages"
	default:
		return
	}
	s.catchUp(ctx, why)
}

// droppedTotal sums the messages NATS dropped on every subscription.
func (s *Subscriber) droppedTotal() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, sub := range s.always {
		d, _ := sub.Dropped()
		n += int64(d)
	}
	for _, r := range s.rooms {
		if r.sub != nil {
			d, _ := r.sub.Dropped()
			n += int64(d)
		}
	}
	return n + s.droppedGone
}

// handle delivers one message: a heartbeat moves the position (everything before it in this
// connection's order has arrived); an event is delivered unless its position was.
func (s *Subscriber) handle(ctx context.Context, m *nats.Msg) {
	if m.Subject == s.head {
		s.onHead(ctx, m.Data)
		return
	}
	env, err := listener.Decode(m.Data)
	if err != nil {
		s.skipped.Add(1)
		s.log.WithError(err).WithField("subject", m.Subject).Warn("bus: skipped a message that is not an event")
		return
	}
	if env.Pos <= s.pos.Load() {
		s.duplicates.Add(1)
		return
	}
	if env.Ref {
		if env, err = s.fetch(ctx, env.Pos); err != nil || env == nil {
			s.skipped.Add(1)
			s.log.WithError(err).WithField("subject", m.Subject).Warn("bus: an event sent by reference is not in the outbox; reading PostgreSQL")
			s.catchUp(ctx, "event by reference")
			return
		}
	}
	s.pos.Store(env.Pos)
	s.cfg.Deliver(env)
	s.delivered.Add(1)
}

func (s *Subscriber) onHead(ctx context.Context, data []byte) {
	var h Head
	if err := json.Unmarshal(data, &h); err != nil || h.Term == "" {
		s.skipped.Add(1)
		return
	}
	s.heads.Add(1)
	s.lastHead.Store(time.Now().UnixNano())
	if s.stale {
		s.stale = false
		s.log.WithField("term", h.Term).Info("bus: heartbeats are back")
	}
	if s.term != "" && h.Term != s.term {
		s.term = h.Term
		s.catchUp(ctx, "another publisher")
	}
	s.term = h.Term
	if h.Pos > s.pos.Load() {
		s.pos.Store(h.Pos)
	}
}

// checkHeartbeats logs once when the publisher's heartbeats stop.
func (s *Subscriber) checkHeartbeats() {
	at := s.lastHead.Load()
	if at == 0 || s.stale || time.Since(time.Unix(0, at)) < s.cfg.StaleAfter {
		return
	}
	s.stale = true
	s.log.WithField("silent_for", time.Since(time.Unix(0, at)).Round(time.Millisecond).String()).
		Warn("bus: no heartbeat from the publisher (is a node elected to publish? is NATS reachable?)")
}

// unsubscribeIdle drops the subscriptions of rooms empty for Linger, every Linger/2.
func (s *Subscriber) unsubscribeIdle(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.Linger/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var gone []*nats.Subscription
		s.mu.Lock()
		for room, r := range s.rooms {
			if r.refs == 0 && time.Since(r.idle) >= s.cfg.Linger && isClosed(r.ready) {
				delete(s.rooms, room)
				if r.sub != nil {
					d, _ := r.sub.Dropped()
					s.droppedGone += int64(d)
					gone = append(gone, r.sub)
				}
			}
		}
		s.mu.Unlock()
		for _, sub := range gone {
			if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				s.log.WithError(err).WithField("subject", sub.Subject).Debug("bus: unsubscribing failed")
			}
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
