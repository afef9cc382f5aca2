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
package recovery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
)

// Config configures a Store.
type Config struct {
	// Pool is the database. Required.
	Pool *pgxpool.Pool
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
	// Timeout bounds each database operation. Zero means 5s.
	Timeout time.Duration
	// Logger receives failures and, at debug level, recoveries. Nil means logrus' standard
	// logger.
	Logger logrus.FieldLogger
}

// Store implements socketio.Recovery on PostgreSQL.
type Store struct {
	cfg Config
	log logrus.FieldLogger
}

var _ socketio.Recovery = (*Store)(nil)

// New returns a store.
func New(cfg Config) *Store {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.NodeSilence <= 0 {
		cfg.NodeSilence = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	return &Store{cfg: cfg, log: cfg.Logger}
}

// Save records the session of a socket that connected without recovering one. The session
// begins at the listener's position: every later event reaches the socket live (its rooms are
// joined before Save runs).
func (st *Store) Save(s *socketio.Socket) error {
	c := router.ClientOf(s)
	if c == nil {
		return errors.New("recovery: socket without an authenticated user")
	}
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.Timeout)
	defer cancel()
	_, err := st.cfg.Pool.Exec(ctx, `INSERT INTO realtime.sessions (pid, user_id, rooms, pos, node, sid)
		VALUES ($1, $2, $3, $4, $5, $6)`, s.PID(), c.UserID, s.Rooms(), st.cfg.Position(), st.cfg.Node, s.ID())
	if err != nil {
		return fmt.Errorf("%w: recovery: saving session: %v", socketio.ErrRetryLater, err)
	}
	return nil
}

// RoomsChanged records the rooms of a session's socket, keeping the highest version.
func (st *Store) RoomsChanged(s *socketio.Socket, rooms []string, version uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.Timeout)
	defer cancel()
	_, err := st.cfg.Pool.Exec(ctx, `UPDATE realtime.sessions SET rooms = $3, rooms_version = $4
		WHERE pid = $1 AND sid = $2 AND rooms_version < $4`, s.PID(), s.ID(), rooms, int64(version))
	if err != nil {
		st.log.WithFields(logrus.Fields{"sid": s.ID()}).WithError(err).
			Warn("recovery: recording the rooms of a session failed; a recovery would miss the change")
	}
}

// Disconnected starts the recovery window of a session whose client will try to recover it,
// and deletes the others, unless another socket has claimed the session meanwhile.
func (st *Store) Disconnected(s *socketio.Socket, reason socketio.DisconnectReason) {
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.Timeout)
	defer cancel()
	sql := `DELETE FROM realtime.sessions WHERE pid = $1 AND sid = $2`
	if reason.Recoverable() {
		sql = `UPDATE realtime.sessions SET disconnected_at = now() WHERE pid = $1 AND sid = $2`
	}
	if _, err := st.cfg.Pool.Exec(ctx, sql, s.PID(), s.ID()); err != nil {
		// The window then runs from the node's last heartbeat instead.
		st.log.WithFields(logrus.Fields{"sid": s.ID(), "reason": string(reason)}).WithError(err).
			Warn("recovery: recording a disconnection failed")
	}
}

// session is a row of realtime.sessions.
type session struct {
	user  string
	rooms []string
	pos   int64
}

// admitted is a chat room of a session with the stream position its membership check is as of.
type admitted struct {
	room, chatID string
	asOf         int64
}

// Restore resumes session pid for a socket the middlewares accepted: nil when the session is
// unknown, expired, another user's, or when the events after the offset have been pruned.
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
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.Timeout)
	defer cancel()
	var out *socketio.Session
	err := pgx.BeginFunc(ctx, st.cfg.Pool, func(tx pgx.Tx) error {
		sess, err := st.lock(ctx, tx, pid)
		if err != nil || sess == nil {
			return err
		}
		if sess.user != c.UserID {
			log.Info("recovery: a session was claimed with another user's token; not recovered")
			return nil
		}
		after := max(sess.pos, clientOffset)
		if ok, err := st.replayable(ctx, tx, after, log); err != nil || !ok {
			return err
		}
		chats, err := st.authorized(ctx, s, c.UserID, sess.rooms)
		if err != nil {
			return err
		}
		rooms := make([]string, len(chats))
		for i, a := range chats {
			rooms[i] = a.room
		}
		all := append([]string{router.UserRoom(c.UserID)}, rooms...)
		if _, err := tx.Exec(ctx, `UPDATE realtime.sessions SET node = $2, sid = $3, rooms = $4, rooms_version = 0,
			disconnected_at = NULL WHERE pid = $1`, pid, st.cfg.Node, s.ID(), all); err != nil {
			return fmt.Errorf("claiming the session: %w", err)
		}
		out = &socketio.Session{
			After:     after,
			Rooms:     rooms,
			Replay:    st.replayer(s, c.UserID, chats, after),
			Abandoned: func() { st.abandon(pid, s.ID()) },
		}
		return nil
	})
	if err != nil {
		// The database could not answer: the client retries later with the same pid and offset.
		return nil, fmt.Errorf("%w: recovery: restoring a session: %v", socketio.ErrRetryLater, err)
	}
	if out != nil {
		log.WithFields(logrus.Fields{"after": out.After, "rooms": out.Rooms}).Debug("recovery: resuming a session")
	}
	return out, nil
}

// lock reads a session that can still be recovered and locks it against a concurrent claim.
func (st *Store) lock(ctx context.Context, tx pgx.Tx, pid string) (*session, error) {
	var sess session
	err := tx.QueryRow(ctx, `SELECT s.user_id, s.rooms, s.pos FROM realtime.sessions s
		LEFT JOIN realtime.nodes n ON n.id = s.node
		WHERE s.pid = $1 AND coalesce(s.disconnected_at, n.seen_at + $3::interval, '-infinity') > now() - $2::interval
		FOR UPDATE OF s`, pid, st.cfg.Window, st.cfg.NodeSilence).Scan(&sess.user, &sess.rooms, &sess.pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the session: %w", err)
	}
	return &sess, nil
}

// replayable reports whether every event after the offset is still in the outbox, and whether
// the offset belongs to this stream at all (it is not beyond the newest position drawn).
func (st *Store) replayable(ctx context.Context, tx pgx.Tx, after int64, log logrus.FieldLogger) (bool, error) {
	var pruned, drawn int64
	err := tx.QueryRow(ctx, `SELECT realtime.pruned_through(),
		(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM realtime.events_pos_seq)`).Scan(&pruned, &drawn)
	if err != nil {
		return false, fmt.Errorf("reading the stream's bounds: %w", err)
	}
	switch {
	case after < pruned:
		log.WithFields(logrus.Fields{"after": after, "pruned_through": pruned}).Info("recovery: the missed events were pruned; not recovered")
		return false, nil
	case after > drawn:
		log.WithFields(logrus.Fields{"after": after, "head": drawn}).Info("recovery: an offset beyond the stream; not recovered")
		return false, nil
	}
	return true, nil
}

// authorized returns the chat rooms of a session that the user may still be in (the user's own
// room is joined again by authentication; no other room is allowed): those whose membership
// the database confirms, unless a removal handled since says otherwise.
func (st *Store) authorized(ctx context.Context, s *socketio.Socket, user string, rooms []string) ([]admitted, error) {
	var out []admitted
	for _, room := range rooms {
		chatID, ok := strings.CutPrefix(room, router.ChatRoom(""))
		if !ok || chatID == "" {
			continue
		}
		access, asOf, err := st.cfg.Membership.Check(ctx, user, chatID)
		if errors.Is(err, router.ErrBadChatID) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if access == router.Member && st.cfg.Admit(s, chatID, asOf) {
			out = append(out, admitted{room: room, chatID: chatID, asOf: asOf})
		}
	}
	return out, nil
}

// replayer returns the Replay of a session: the outbox after a position, for the user's room
// and the session's chat rooms, in order. It runs once the socket is in its rooms: a removal
// from a chat handled between the membership check and then found the socket outside the room,
// so the admission is checked again and the socket leaves a room it is no longer admitted to.
func (st *Store) replayer(s *socketio.Socket, user string, chats []admitted, after int64) func(emit func(*socketio.Encoded) error) error {
	return func(emit func(*socketio.Encoded) error) error {
		rooms := []string{router.UserRoom(user)}
		for _, a := range chats {
			if !st.cfg.Admit(s, a.chatID, a.asOf) {
				s.Leave(a.room)
				continue
			}
			rooms = append(rooms, a.room)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*st.cfg.Timeout)
		defer cancel()
		rows, err := st.cfg.Pool.Query(ctx, `SELECT id, pos, event, users, rooms, payload FROM realtime.events
			WHERE pos > $1 AND (users && $2 OR rooms && $3) ORDER BY pos`, after, []string{user}, rooms)
		if err != nil {
			return fmt.Errorf("%w: recovery: reading missed events: %v", socketio.ErrRetryLater, err)
		}
		defer rows.Close()
		for rows.Next() {
			var e listener.Envelope
			if err := rows.Scan(&e.ID, &e.Pos, &e.Event, &e.Users, &e.Rooms, &e.Payload); err != nil {
				return fmt.Errorf("%w: recovery: reading missed events: %v", socketio.ErrRetryLater, err)
			}
			if e.Event == "" || len(e.Payload) == 0 || string(e.Payload) == "null" || router.IsInternal(&e) {
				continue // as the listener and the router: never delivered
			}
			if err := emit(st.cfg.Encode(&e)); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%w: recovery: reading missed events: %v", socketio.ErrRetryLater, err)
		}
		return nil
	}
}

// abandon deletes a session claimed by a socket that could not resume it after all.
func (st *Store) abandon(pid, sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.Timeout)
	defer cancel()
	if _, err := st.cfg.Pool.Exec(ctx, `DELETE FROM realtime.sessions WHERE pid = $1 AND sid = $2`, pid, sid); err != nil {
		st.log.WithField("sid", sid).WithError(err).Warn("recovery: deleting an abandoned session failed")
	}
}
