package recovery

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
)

// Restores are batched: the sockets that come back at the same moment (every client of a node
// that failed) are restored together, on one connection, in three round trips whatever their
// number: read the sessions (and the stream's bounds), check the chat memberships of all of
// them (router.Membership.CheckMany), claim them. Nothing is locked in between; the claim
// checks the session's user and window again, and a session claimed twice (one client, two
// sockets racing) belongs to the last claim, whose socket then holds it.

// restoreReq is one socket's request to resume a session.
type restoreReq struct {
	s      *socketio.Socket
	user   string
	pid    string
	offset int64
	queued time.Time
	log    logrus.FieldLogger
	done   chan restored

	// filled in by the batch
	ahead      bool      // the offset is ahead of the stream, within Config.AheadWindow: wait for it
	aheadSince time.Time // when it started waiting for the stream (ahead.go)
	triedAt    time.Time // when it was last tried while waiting
	sess       *session
	after      int64
	chats      []admitted
}

type restored struct {
	sess *socketio.Session
	err  error
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

// answer hands a request its outcome.
func (r *restoreReq) answer(sess *socketio.Session, err error) { r.done <- restored{sess, err} }

// retryLater answers with ErrRetryLater: the client retries with the same pid and offset.
func (r *restoreReq) retryLater(format string, args ...any) {
	r.answer(nil, fmt.Errorf("%w: recovery: %s", socketio.ErrRetryLater, fmt.Sprintf(format, args...)))
}

// restoreBatch restores a batch of sessions and answers every request.
func (st *Store) restoreBatch(batch []*restoreReq) {
	start := time.Now()
	reqs := st.admissible(batch, start)
	if len(reqs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), st.cfg.Timeout)
	defer cancel()
	conn, err := st.cfg.Pool.Acquire(ctx)
	if err != nil {
		st.failRestores(reqs, fmt.Errorf("a database connection: %w", err))
		return
	}
	defer conn.Release()
	acquired := time.Now()
	if err := st.readSessions(ctx, conn, reqs); err != nil {
		st.failRestores(reqs, err)
		return
	}
	read := time.Now()
	if err := st.checkMemberships(ctx, conn, reqs); err != nil {
		st.failRestores(reqs, err)
		return
	}
	checked := time.Now()
	claimed, err := st.claim(ctx, conn, reqs)
	if err != nil {
		st.failRestores(reqs, err)
		return
	}
	st.stats.restoreBatches.Add(1)
	st.log.WithFields(logrus.Fields{"sessions": len(reqs), "claimed": len(claimed), "took": time.Since(start).String(),
		"acquire": acquired.Sub(start).String(), "read": read.Sub(acquired).String(), "check": checked.Sub(read).String(),
		"claim": time.Since(checked).String()}).Debug("recovery: batch restored")
	for _, r := range reqs {
		if r.ahead {
			st.waitAhead(r, time.Now())
			continue
		}
		if !claimed[r.pid] {
			st.stats.notRecovered.Add(1)
			r.answer(nil, nil)
			continue
		}
		st.stats.recovered.Add(1)
		rooms := make([]string, len(r.chats))
		for i, a := range r.chats {
			rooms[i] = a.room
		}
		r.log.WithFields(logrus.Fields{"after": r.after, "rooms": rooms, "batch": len(reqs),
			"waited": start.Sub(r.queued).String()}).Debug("recovery: resuming a session")
		s, pid := r.s, r.pid
		r.answer(&socketio.Session{
			After:     r.after,
			Rooms:     rooms,
			Replay:    st.replayer(s, pid, r.user, r.chats, r.after),
			Abandoned: func() { st.submitWrite(&write{kind: opDelete, pid: pid, sid: s.ID()}) },
		}, nil)
	}
}

// admissible answers the requests that waited too long (the node is overloaded: ErrRetryLater)
// and the second of two requests for one session (not recovered), and returns the others.
func (st *Store) admissible(batch []*restoreReq, now time.Time) []*restoreReq {
	out := make([]*restoreReq, 0, len(batch))
	seen := make(map[string]bool, len(batch))
	for _, r := range batch {
		switch {
		case now.Sub(r.queued) > st.cfg.MaxWait:
			st.stats.overloaded.Add(1)
			r.retryLater("overloaded: waited %s for a restore", now.Sub(r.queued).Round(time.Millisecond))
		case seen[r.pid]:
			st.stats.notRecovered.Add(1)
			r.log.Info("recovery: two sockets asked for one session at once; this one is not recovered")
			r.answer(nil, nil)
		default:
			seen[r.pid] = true
			out = append(out, r)
		}
	}
	return out
}

func (st *Store) failRestores(reqs []*restoreReq, err error) {
	st.stats.retryLater.Add(int64(len(reqs)))
	for _, r := range reqs {
		r.retryLater("restoring a session: %v", err)
	}
}

// readSessions reads the sessions of a batch that can still be recovered, and keeps those that
// the requester may resume: its user's, with every event after its offset still in the outbox.
func (st *Store) readSessions(ctx context.Context, conn *pgxpool.Conn, reqs []*restoreReq) error {
	pids := make([]string, len(reqs))
	for i, r := range reqs {
		pids[i] = r.pid
	}
	rows, err := conn.Query(ctx, `SELECT s.pid, s.user_id, s.rooms, s.pos, b.pruned, b.drawn
		FROM realtime.sessions s LEFT JOIN realtime.nodes n ON n.id = s.node,
		(SELECT realtime.pruned_through() AS pruned,
		        (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM realtime.events_pos_seq) AS drawn) b
		WHERE s.pid = ANY($1) AND coalesce(s.disconnected_at, n.seen_at + $3::interval, '-infinity') > now() - $2::interval`,
		pids, st.cfg.Window, st.cfg.NodeSilence)
	if err != nil {
		return fmt.Errorf("reading sessions: %w", err)
	}
	found := make(map[string]*session, len(reqs))
	var pruned, drawn int64
	for rows.Next() {
		var (
			pid  string
			sess session
		)
		if err := rows.Scan(&pid, &sess.user, &sess.rooms, &sess.pos, &pruned, &drawn); err != nil {
			rows.Close()
			return fmt.Errorf("reading sessions: %w", err)
		}
		found[pid] = &sess
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading sessions: %w", err)
	}
	position := st.cfg.Position()
	for _, r := range reqs {
		sess := found[r.pid]
		if sess == nil {
			continue
		}
		if sess.user != r.user {
			r.log.Info("recovery: a session was claimed with another user's token; not recovered")
			continue
		}
		after := max(sess.pos, r.offset)
		switch {
		case after < pruned:
			r.log.WithFields(logrus.Fields{"after": after, "pruned_through": pruned}).Info("recovery: the missed events were pruned; not recovered")
			continue
		case after > drawn && st.cfg.AheadWindow > 0 && after <= position:
			// This node delivered through after ahead of the append: the replay waits for it.
		case after > drawn && after-drawn <= st.cfg.AheadWindow:
			r.ahead, r.after = true, after
			continue
		case after > drawn:
			r.log.WithFields(logrus.Fields{"after": after, "head": drawn}).Info("recovery: an offset beyond the stream; not recovered")
			continue
		}
		r.sess, r.after = sess, after
	}
	return nil
}

// checkMemberships asks, in one round trip, whether the users of the batch may still be in
// their sessions' chat rooms, and keeps in each request the rooms admitted.
func (st *Store) checkMemberships(ctx context.Context, conn *pgxpool.Conn, reqs []*restoreReq) error {
	var (
		checks []router.MembershipCheck
		owners []*restoreReq
	)
	for _, r := range reqs {
		if r.sess == nil {
			continue
		}
		for _, room := range r.sess.rooms {
			chatID, ok := strings.CutPrefix(room, router.ChatRoom(""))
			if !ok || chatID == "" {
				continue // the user's room is joined again by authentication; no other room is allowed
			}
			checks = append(checks, router.MembershipCheck{UserID: r.user, ChatID: chatID})
			owners = append(owners, r)
		}
	}
	if err := st.cfg.Membership.CheckMany(ctx, conn, checks); err != nil {
		return err
	}
	for i, c := range checks {
		r := owners[i]
		if c.Err == nil && c.Access == router.Member && st.cfg.Admit(r.s, c.ChatID, c.AsOf) {
			r.chats = append(r.chats, admitted{room: router.ChatRoom(c.ChatID), chatID: c.ChatID, asOf: c.AsOf})
		}
	}
	return nil
}

// claim makes this node's sockets the holders of the sessions of the batch, with the rooms
// they keep, and returns the sessions claimed.
func (st *Store) claim(ctx context.Context, conn *pgxpool.Conn, reqs []*restoreReq) (map[string]bool, error) {
	var c columns
	for _, r := range reqs {
		if r.sess == nil {
			continue
		}
		rooms := []string{router.UserRoom(r.user)}
		for _, a := range r.chats {
			rooms = append(rooms, a.room)
		}
		c.add(r.pid, r.s.ID(), r.user, roomsJSON(rooms), 0)
	}
	claimed := make(map[string]bool, c.n())
	if c.n() == 0 {
		return claimed, nil
	}
	rows, err := conn.Query(ctx, `UPDATE realtime.sessions s SET node = $5, sid = v.sid,
			rooms = ARRAY(SELECT jsonb_array_elements_text(v.rooms::jsonb)), rooms_version = 0, disconnected_at = NULL
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS v(pid, sid, user_id, rooms)
		WHERE s.pid = v.pid AND s.user_id = v.user_id
		  AND coalesce(s.disconnected_at, (SELECT n.seen_at + $7::interval FROM realtime.nodes n WHERE n.id = s.node),
		               '-infinity') > now() - $6::interval
		RETURNING s.pid`, c.pids, c.sids, c.users, c.rooms, st.cfg.Node, st.cfg.Window, st.cfg.NodeSilence)
	if err != nil {
		return nil, fmt.Errorf("claiming sessions: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("claiming sessions: %w", err)
	}
	for _, pid := range pids {
		claimed[pid] = true
	}
	return claimed, nil
}
