package recovery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
)

// Replays are batched too: the missed events of the sockets that recover together are read
// in one pass over the outbox (from the oldest offset among them, for all their users and
// rooms), each event encoded once and handed to every socket it is for. Sockets whose offsets
// lie far apart are read in separate passes (replaySpan), so that one client with an old
// offset does not make the others read what it missed.

// replaySpan is how far apart (in stream positions) the offsets of sockets replayed in one
// pass may be.
const replaySpan = 20000

// replayReq is one socket's request for its missed events.
type replayReq struct {
	user  string
	rooms []string
	after int64
	// through is this node's stream position when the socket was in its rooms: everything up
	// to it was delivered live before the socket could hold it, so the replay reads the outbox
	// only once it holds everything up to there (with the wal source the node reading the slot
	// delivers events before their append).
	through int64
	emit    func(*socketio.Encoded) error
	done    chan error
	err     error // the first error of emit: nothing more is handed to it
}

// replayer returns the Replay of a session: the outbox after a position, for the user's room
// and the session's chat rooms, in order. It runs once the socket is in its rooms: a removal
// from a chat handled between the membership check and then found the socket outside the room,
// so the admission is checked again and the socket leaves a room it is no longer admitted to.
// If the events cannot be read (ErrRetryLater), the session is released for the client's next
// attempt: its window starts again.
func (st *Store) replayer(s *socketio.Socket, pid, user string, chats []admitted, after int64) func(emit func(*socketio.Encoded) error) error {
	return func(emit func(*socketio.Encoded) error) error {
		rooms := []string{router.UserRoom(user)}
		for _, a := range chats {
			if !st.cfg.Admit(s, a.chatID, a.asOf) {
				s.Leave(a.room)
				continue
			}
			rooms = append(rooms, a.room)
		}
		err := st.replay(&replayReq{user: user, rooms: rooms, after: after, through: st.cfg.Position(), emit: emit, done: make(chan error, 1)})
		if errors.Is(err, socketio.ErrRetryLater) {
			st.submitWrite(&write{kind: opDisconnected, pid: pid, sid: s.ID()})
		}
		return err
	}
}

// replay queues a request and waits for its outcome.
func (st *Store) replay(r *replayReq) error {
	if !st.replays.push(r) {
		st.stats.overloaded.Add(1)
		return fmt.Errorf("%w: recovery: overloaded: %d replays are waiting already", socketio.ErrRetryLater, cap(st.replays.ch))
	}
	select {
	case err := <-r.done:
		return err
	case <-st.stopped:
		return fmt.Errorf("%w: %v", socketio.ErrRetryLater, errStopped)
	}
}

// replayBatch reads the missed events of a batch and answers every request.
func (st *Store) replayBatch(batch []*replayReq) {
	start, size := time.Now(), len(batch)
	defer func() {
		st.log.WithFields(logrus.Fields{"sockets": size, "took": time.Since(start).String()}).Debug("recovery: batch replayed")
	}()
	slices.SortFunc(batch, func(a, b *replayReq) int { return cmp.Compare(a.after, b.after) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*st.cfg.Timeout)
	defer cancel()
	conn, err := st.cfg.Pool.Acquire(ctx)
	if err == nil {
		defer conn.Release()
	}
	st.stats.replayBatches.Add(1)
	for len(batch) > 0 {
		n := 1
		for n < len(batch) && batch[n].after-batch[0].after <= replaySpan {
			n++
		}
		group := batch[:n]
		batch = batch[n:]
		if err == nil {
			err = st.replayGroup(ctx, conn, group)
		}
		for _, r := range group {
			switch {
			case err != nil:
				r.done <- fmt.Errorf("%w: recovery: reading missed events: %v", socketio.ErrRetryLater, err)
			default:
				r.done <- r.err
			}
		}
	}
}

// replayGroup reads, in one query, the events after the group's first offset for all its users
// and rooms, and hands each to the requests it is for, in order.
func (st *Store) replayGroup(ctx context.Context, conn *pgxpool.Conn, group []*replayReq) error {
	if err := st.waitAppended(ctx, conn, group); err != nil {
		return err
	}
	byUser := map[string][]*replayReq{}
	byRoom := map[string][]*replayReq{}
	for _, r := range group {
		byUser[r.user] = append(byUser[r.user], r)
		for _, room := range r.rooms {
			byRoom[room] = append(byRoom[room], r)
		}
	}
	rows, err := conn.Query(ctx, `SELECT id, pos, event, users, rooms, payload FROM realtime.events
		WHERE pos > $1 AND (users && $2 OR rooms && $3) ORDER BY pos`, group[0].after, keys(byUser), keys(byRoom))
	if err != nil {
		return err
	}
	defer rows.Close()
	var seen map[*replayReq]bool
	for rows.Next() {
		var e listener.Envelope
		if err := rows.Scan(&e.ID, &e.Pos, &e.Event, &e.Users, &e.Rooms, &e.Payload); err != nil {
			return err
		}
		if e.Event == "" || len(e.Payload) == 0 || string(e.Payload) == "null" || router.IsInternal(&e) {
			continue // as the listener and the router: never delivered
		}
		clear(seen)
		if seen == nil {
			seen = map[*replayReq]bool{}
		}
		var enc *socketio.Encoded
		deliver := func(r *replayReq) {
			if seen[r] || r.err != nil || e.Pos <= r.after {
				return
			}
			seen[r] = true
			if enc == nil {
				enc = st.cfg.Encode(&e)
			}
			r.err = r.emit(enc)
		}
		for _, u := range e.Users {
			for _, r := range byUser[u] {
				deliver(r)
			}
		}
		for _, room := range e.Rooms {
			for _, r := range byRoom[room] {
				deliver(r)
			}
		}
	}
	return rows.Err()
}

func keys(m map[string][]*replayReq) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// waitAppended waits until the outbox holds every position up to the group's highest through
// (replayReq.through). Only with the wal source (Config.AheadWindow set) can a node's position
// be ahead of the outbox: the node reading the slot delivers events before their append, which
// follows within milliseconds.
func (st *Store) waitAppended(ctx context.Context, conn *pgxpool.Conn, group []*replayReq) error {
	if st.cfg.AheadWindow == 0 {
		return nil
	}
	var through int64
	for _, r := range group {
		through = max(through, r.through)
	}
	for {
		var head int64
		if err := conn.QueryRow(ctx, `SELECT greatest((SELECT coalesce(max(pos), 0) FROM realtime.events),
			(SELECT coalesce(max(value::bigint), 0) FROM realtime.settings WHERE key = 'pruned_through'))`).Scan(&head); err != nil {
			return fmt.Errorf("reading the outbox head: %w", err)
		}
		if head >= through {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the stream to be appended through position %d (at %d): %w", through, head, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
