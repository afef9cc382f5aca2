// Package recovery keeps Socket.IO sessions in PostgreSQL for connection-state recovery
// (socket.io-client >= 4.6), so that a client that lost its connection can come back to any
// node and receive what it missed, from the outbox.
//
// A session (pid) records its user, its rooms, the stream position where it began and the
// node and socket holding it (realtime.sessions). When a client reconnects with its pid and
// offset, Restore checks that the session is recent enough and belongs to the user the token
// names again, keeps the rooms the user may still be in (chat membership is asked again),
// claims the session for the new socket, and replays the outbox after the offset for the
// user's room and those rooms.
//
// Clients come back together (every client of a node that failed, of a node that restarts,
// behind a load balancer that blinked), so the Store does its database work in batches: the
// restores waiting at one moment are done in three round trips on one connection whatever
// their number (restore.go), their missed events read in one pass (replay.go), and session
// writes (connects, room changes, disconnections) stored by one writer, many per statement
// (writer.go). Queues are bounded: a restore is refused with socketio.ErrRetryLater (the
// client retries with its backoff) only when the queue is full, the request has waited
// longer than MaxWait, or its offset is ahead of the stream (the wal source delivers before
// appending) and the stream has not reached it within AheadWait (ahead.go). No step holds a
// connection while it waits for another.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
)

// Config configures a Store.
type Config struct {
	// Pool serves the restores and replays of connecting sockets. Required.
	Pool *pgxpool.Pool
	// Writes serves the session writes (connects, room changes, disconnections); give it a
	// pool that a reconnect storm does not fill, since a room:join waits for its write. Nil
	// means Pool.
	Writes *pgxpool.Pool
	// Node names this node in realtime.sessions, as in realtime.nodes, whose row the node keeps
	// fresh (cluster.Cluster.Run). Required.
	Node string
	// Window is how long after a disconnection a session can be recovered. Required.
	Window time.Duration
	// NodeSilence is how long a node may go without refreshing its row before it counts as
	// gone: the window of its connected sessions then runs from its last heartbeat. Zero means
	// 30s.
	NodeSilence time.Duration
	// Position returns the stream position up to which events have been handed to sockets
	// (the listener's). Required.
	Position func() int64
	// Encode encodes an event as sockets receive it (the router's). Required.
	Encode func(*listener.Envelope) *socketio.Encoded
	// Membership decides whether a user may still be in a chat room. Required.
	Membership *router.Membership
	// Admit accepts a socket into a chat room on a membership check as of a stream position,
	// unless a removal published later has been handled already (router.Router.AdmitChat).
	// Required.
	Admit func(s *socketio.Socket, chatID string, asOf int64) bool
	// Timeout bounds each batch's database work (replays: four times as long). Zero means 5s.
	Timeout time.Duration
	// Workers is how many batches of restores, and how many of replays, run at once. Zero
	// means 2.
	Workers int
	// MaxBatch bounds the sessions restored (or replayed, or written) by one batch. Zero means
	// 500.
	MaxBatch int
	// QueueLimit bounds the restores, the replays and the session writes waiting for a batch
	// (each). Zero means 20000.
	QueueLimit int
	// MaxWait is how long a restore may wait for its batch before it is refused with
	// socketio.ErrRetryLater. Zero means 10s.
	MaxWait time.Duration
	// AheadWindow is how far past the stream's last drawn position a client's offset may be
	// and still be waited for instead of not recovered: with the wal source the reading node
	// delivers events before their append (docs/delivery.md, "Delivering ahead"), so a client
	// may hold an offset the stream reaches a moment later. Zero: such offsets are not
	// recovered.
	AheadWindow int64
	// AheadWait is how long a restore whose offset is ahead of the stream (within
	// AheadWindow) waits for it, on no connection, before it is refused with
	// socketio.ErrRetryLater (the client comes back with its backoff and the same offset).
	// Zero means 5s.
	AheadWait time.Duration
	// Logger receives failures and, at debug level, recoveries. Nil means logrus' standard
	// logger.
	Logger logrus.FieldLogger
}

// Store implements socketio.Recovery on PostgreSQL. Run it (Run) while sockets connect.
type Store struct {
	cfg      Config
	log      logrus.FieldLogger
	restores *queue[*restoreReq]
	replays  *queue[*replayReq]
	writes   *queue[*write]
	ahead    *aheadWaiters
	stopped  chan struct{}
	stopOnce sync.Once
	stats    counters
}

var _ socketio.Recovery = (*Store)(nil)

// New returns a store.
func New(cfg Config) (*Store, error) {
	switch {
	case cfg.Pool == nil:
		return nil, errors.New("recovery: Config.Pool is required")
	case cfg.Node == "":
		return nil, errors.New("recovery: Config.Node is required")
	case cfg.Window <= 0:
		return nil, errors.New("recovery: Config.Window is required")
	case cfg.Position == nil || cfg.Encode == nil || cfg.Membership == nil || cfg.Admit == nil:
		return nil, errors.New("recovery: Config.Position, Encode, Membership and Admit are required")
	}
	if cfg.Writes == nil {
		cfg.Writes = cfg.Pool
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.NodeSilence <= 0 {
		cfg.NodeSilence = 30 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 500
	}
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = 20000
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 10 * time.Second
	}
	if cfg.AheadWait <= 0 {
		cfg.AheadWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Store{
		ahead: newAheadWaiters(),
		cfg:   cfg, log: cfg.Logger,
		restores: newQueue[*restoreReq](cfg.QueueLimit, cfg.MaxBatch),
		replays:  newQueue[*replayReq](cfg.QueueLimit, cfg.MaxBatch),
		writes:   newQueue[*write](cfg.QueueLimit, cfg.MaxBatch),
		stopped:  make(chan struct{}),
	}, nil
}

// Run does the store's batches until ctx is done; then it stores the session writes still
// queued (the disconnections of a node shutting down) and returns. Restores and replays asked
// for after that are refused with socketio.ErrRetryLater, session writes are dropped.
func (st *Store) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		st.restores.work(ctx, st.cfg.Workers, st.restoreBatch)
	}()
	go func() {
		defer wg.Done()
		st.runAhead(ctx)
	}()
	go func() {
		defer wg.Done()
		st.replays.work(ctx, st.cfg.Workers, st.replayBatch)
	}()
	go func() {
		defer wg.Done()
		st.runWriter(ctx)
	}()
	wg.Wait()
	st.stopOnce.Do(func() { close(st.stopped) })
}

// Save records the session of a socket that connected without recovering one, and returns
// once it is stored. The session begins at the listener's position: every later event reaches
// the socket live (its rooms are joined before Save runs).
func (st *Store) Save(s *socketio.Socket) error {
	c := router.ClientOf(s)
	if c == nil {
		return errors.New("recovery: socket without an authenticated user")
	}
	w := &write{kind: opSave, pid: s.PID(), sid: s.ID(), user: c.UserID, rooms: s.Rooms(), pos: st.cfg.Position(),
		done: make(chan error, 1)}
	st.submitWrite(w)
	if err := st.wait(w.done); err != nil {
		return fmt.Errorf("%w: recovery: saving session: %v", socketio.ErrRetryLater, err)
	}
	return nil
}

// RoomsChanged records the rooms of a session's socket, keeping the highest version. A join
// returns once stored, so that the join is acknowledged only when a recovery would find the
// room; a leave is stored in the background.
func (st *Store) RoomsChanged(s *socketio.Socket, rooms []string, version uint64, joined bool) {
	w := &write{kind: opRooms, pid: s.PID(), sid: s.ID(), rooms: rooms, version: int64(version)}
	if joined {
		w.done = make(chan error, 1)
	}
	if !st.submitWrite(w) {
		st.log.WithField("sid", s.ID()).Warn("recovery: too many session writes waiting; a recovery would miss a room change")
	}
	if joined {
		if err := st.wait(w.done); err != nil {
			st.log.WithFields(logrus.Fields{"sid": s.ID()}).WithError(err).
				Warn("recovery: recording the rooms of a session failed; a recovery would miss the change")
		}
	}
}

// Disconnected starts the recovery window of a session whose client will try to recover it,
// and deletes the others, unless another socket has claimed the session meanwhile. It does not
// wait for the write: if it is lost, the window runs from the node's last heartbeat instead.
func (st *Store) Disconnected(s *socketio.Socket, reason socketio.DisconnectReason) {
	kind := opDelete
	if reason.Recoverable() {
		kind = opDisconnected
	}
	if !st.submitWrite(&write{kind: kind, pid: s.PID(), sid: s.ID()}) {
		st.log.WithFields(logrus.Fields{"sid": s.ID(), "reason": string(reason)}).
			Warn("recovery: too many session writes waiting; a disconnection was not recorded")
	}
}

// Restore resumes session pid for a socket the middlewares accepted: nil when the session is
// unknown, expired, another user's, or when the events after the offset have been pruned. It
// waits for the batch that restores it; ErrRetryLater (wrapped) when the database cannot
// answer, or when the node is overloaded (the queue is full, or the request waited MaxWait).
func (st *Store) Restore(s *socketio.Socket, pid, offset string) (*socketio.Session, error) {
	c := router.ClientOf(s)
	if c == nil {
		return nil, nil
	}
	log := st.log.WithFields(logrus.Fields{"sid": s.ID(), "user": c.UserID})
	var clientOffset int64
	if offset != "" {
		n, err := strconv.ParseInt(offset, 10, 64)
		if err != nil || n < 0 {
			log.WithField("offset", offset).Debug("recovery: not an offset of this stream")
			return nil, nil
		}
		clientOffset = n
	}
	r := &restoreReq{s: s, user: c.UserID, pid: pid, offset: clientOffset, queued: time.Now(), log: log,
		done: make(chan restored, 1)}
	if !st.restores.push(r) {
		st.stats.overloaded.Add(1)
		return nil, fmt.Errorf("%w: recovery: overloaded: %d restores are waiting already", socketio.ErrRetryLater, cap(st.restores.ch))
	}
	select {
	case out := <-r.done:
		return out.sess, out.err
	case <-st.stopped:
		return nil, fmt.Errorf("%w: %v", socketio.ErrRetryLater, errStopped)
	}
}

// Stats are the store's counters since it started.
type Stats struct {
	Recovered      int64 // sessions restored
	NotRecovered   int64 // restores that found no session this socket may resume
	RetryLater     int64 // restores refused because the database could not answer, or the stream did not reach their offset in time
	Overloaded     int64 // restores and replays refused because the queue was full or they waited too long
	RestoreBatches int64 // batches of restores that reached the database
	ReplayBatches  int64
	Writes         int64 // session writes stored (or failed)
	WriteBatches   int64
	WritesDropped  int64 // session writes refused because the queue was full
	Waiting        int   // restores waiting now for a batch
	WaitingAhead   int   // restores waiting now for the stream to reach their offset
}

type counters struct {
	recovered, notRecovered, retryLater, overloaded     atomic.Int64
	restoreBatches, replayBatches, writes, writeBatches atomic.Int64
	writesDropped                                       atomic.Int64
}

// Stats returns the store's counters.
func (st *Store) Stats() Stats {
	c := &st.stats
	return Stats{
		Recovered: c.recovered.Load(), NotRecovered: c.notRecovered.Load(), RetryLater: c.retryLater.Load(),
		Overloaded: c.overloaded.Load(), RestoreBatches: c.restoreBatches.Load(), ReplayBatches: c.replayBatches.Load(),
		Writes: c.writes.Load(), WriteBatches: c.writeBatches.Load(), WritesDropped: c.writesDropped.Load(),
		Waiting: st.restores.len(), WaitingAhead: st.ahead.len(),
	}
}
