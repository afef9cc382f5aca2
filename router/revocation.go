package router

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/socketio"
)

// Live revocation.
//
// Revocations come through the event stream, in commit order with the events, as internal
// events: published by realtime.revoke_chat_member, realtime.revoke_session and
// realtime.session_expires (migrations/realtime/0020) to the room realtime:internal, which no
// client can join. Every node handles them for its own sockets, and none delivers them to a
// client. Because the listener hands events over one at a time in commit order, a member removed
// from a chat leaves its room before any event committed after the removal is broadcast.
//
// Credentials also expire by themselves: a socket whose JWT exp or session expiry passes has
// its transport closed at that moment by a timer on the shared scheduler, so that its client
// reconnects and authenticates again (an auth callback gives it a fresh token).
//
// A room:join (or a session check in CONNECT) that raced with a revocation is caught by the
// revocation log: the generation is read before the database is asked, and the answer is
// accepted only if no matching revocation was handled since.

// InternalRoom is where internal events are published; no client can be in it.
const InternalRoom = "realtime:internal"

// Internal events (the functions of migrations/realtime/0020 that publish them).
const (
	EventRevokeChatMember = "realtime.revoke_chat_member" // {chatId, userId}
	EventRevokeSession    = "realtime.revoke_session"     // {userId, sessionHash}
	EventSessionExpires   = "realtime.session_expires"    // {userId, sessionHash, expiresAt (Unix ms)}
)

// IsInternal reports whether an event is internal: realtimed acts on it and never sends it to
// a client, live or in a recovery replay.
func IsInternal(env *listener.Envelope) bool {
	return len(env.Rooms) == 1 && env.Rooms[0] == InternalRoom && len(env.Users) == 0
}

type internalPayload struct {
	ChatID      string `json:"chatId"`
	UserID      string `json:"userId"`
	SessionHash string `json:"sessionHash"`
	ExpiresAt   *int64 `json:"expiresAt"`
}

// internal handles an internal event on the listener's goroutine.
func (r *Router) internal(env *listener.Envelope) {
	var p internalPayload
	entry := r.log.WithFields(logrus.Fields{"event": env.Event, "pos": env.Pos})
	if err := json.Unmarshal(env.Payload, &p); err != nil || p.UserID == "" {
		entry.WithError(err).WithField("payload", truncate(env.Payload)).Warn("internal event without a user; ignored")
		return
	}
	switch env.Event {
	case EventRevokeChatMember:
		if p.ChatID == "" {
			entry.Warn("internal event without a chat; ignored")
			return
		}
		n := r.revokeMember(env.Pos, p.UserID, p.ChatID)
		entry.WithFields(logrus.Fields{"user": p.UserID, "chat": p.ChatID, "sockets": n}).Info("chat member removed: sockets left the chat's room")
	case EventRevokeSession:
		if p.SessionHash == "" {
			entry.Warn("internal event without a session; ignored")
			return
		}
		n := r.revokeSession(env.Pos, p.UserID, p.SessionHash, time.Time{})
		entry.WithFields(logrus.Fields{"user": p.UserID, "sockets": n}).Info("session revoked: its sockets are disconnected")
	case EventSessionExpires:
		if p.SessionHash == "" || p.ExpiresAt == nil {
			entry.Warn("internal event without a session or an expiry; ignored")
			return
		}
		at := time.UnixMilli(*p.ExpiresAt)
		n := r.revokeSession(env.Pos, p.UserID, p.SessionHash, at)
		entry.WithFields(logrus.Fields{"user": p.UserID, "sockets": n, "expires_at": at}).Info("session expiry changed")
	default:
		entry.Warn("unknown internal event; ignored")
	}
}

// revokeMember takes the user's sockets on this node out of the chat's room and ends their
// typing indicators there, unless they joined after the removal (their membership check saw
// a database where the user was a member again). It returns how many sockets left the room.
func (r *Router) revokeMember(pos int64, userID, chatID string) int {
	r.revs.add(revoked{pos: pos, user: userID, chat: chatID})
	room := ChatRoom(chatID)
	n := 0
	recheck := r.memberAgain(userID, chatID)
	for _, s := range r.ns.Sockets(UserRoom(userID)) {
		c := ClientOf(s)
		if c == nil || !c.forgetChat(chatID, pos) {
			continue
		}
		if inRoom(s, room) && recheck(c) {
			continue
		}
		if inRoom(s, room) {
			s.Leave(room)
			n++
		}
		r.stopTyping(s, chatID)
	}
	return n
}

// memberAgain returns, with Commands.RecheckRemovals, a test of whether a client that
// forgetChat just let go of may stay in the chat's room after all: the database says, now,
// that the user is a member (removed and added again, both committed before the removal
// reached this node). The database is asked once per removal, at the first socket that needs
// it; the client is then admitted as of the answer's position. Without RecheckRemovals, or
// when the database cannot answer, nobody stays.
func (r *Router) memberAgain(userID, chatID string) func(*Client) bool {
	if r.cmds.Membership == nil || !r.cmds.RecheckRemovals {
		return func(*Client) bool { return false }
	}
	asked, member := false, false
	var asOf int64
	return func(c *Client) bool {
		if !asked {
			asked = true
			ctx, cancel := context.WithTimeout(context.Background(), r.cmds.timeout())
			access, at, err := r.cmds.Membership.Check(ctx, userID, chatID)
			cancel()
			if err != nil {
				r.log.WithFields(logrus.Fields{"user": userID, "chat": chatID}).WithError(err).
					Warn("chat member removed: the membership check again failed; the sockets leave the room")
			}
			member, asOf = err == nil && access == Member, at
		}
		if member {
			c.admitChat(chatID, asOf)
		}
		return member
	}
}

// revokeSession acts on the user's sockets on this node that authenticated with the session:
// with a zero expiry, or one that has passed, their transports are closed at once; otherwise
// they are closed at the new expiry. It returns how many sockets it found.
func (r *Router) revokeSession(pos int64, userID, hash string, expires time.Time) int {
	revoke := expires.IsZero() || !expires.After(time.Now())
	if revoke {
		r.revs.add(revoked{pos: pos, user: userID, session: hash})
	}
	n := 0
	for _, s := range r.ns.Sockets(UserRoom(userID)) {
		c := ClientOf(s)
		if c == nil || c.SessionHash != hash {
			continue
		}
		n++
		if revoke {
			r.closeTransport(s, c, "session revoked")
			continue
		}
		r.expireAt(s, c, expires)
	}
	return n
}

// expireAt (re)schedules the moment the socket's credentials expire.
func (r *Router) expireAt(s *socketio.Socket, c *Client, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.expiry == nil {
		c.expiry = r.ns.NewTimer(func() { r.closeTransport(s, c, "credentials expired") })
	}
	c.expiry.Reset(time.Until(at))
}

// closeTransport closes the socket's connection (not a Socket.IO DISCONNECT, not a
// CONNECT_ERROR): the official client reconnects and authenticates again, running its auth
// callback, and is refused then if its token is no longer good.
func (r *Router) closeTransport(s *socketio.Socket, c *Client, why string) {
	r.log.WithFields(logrus.Fields{"sid": s.ID(), "user": c.UserID, "auth": c.Method}).
		Info(why + ": closing the transport so that the client authenticates again")
	s.Conn().Close()
}

// revoked is a revocation remembered for the checks that raced with it.
type revoked struct {
	gen                 uint64 // order in which this node handled it
	pos                 int64  // position in the event stream
	user, chat, session string
}

// revocationLog remembers the latest revocations in a ring, in the order they were handled,
// which is also stream order.
type revocationLog struct {
	mu   sync.Mutex
	gen  uint64
	ring [1024]revoked
}

// generation returns the number of revocations handled so far.
func (l *revocationLog) generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

func (l *revocationLog) add(rv revoked) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	rv.gen = l.gen
	l.ring[l.gen%uint64(len(l.ring))] = rv
}

// find looks, newest first, through the revocations for which within holds, for one that
// matches. known is false when the ring no longer reaches back far enough to tell.
func (l *revocationLog) find(within, match func(*revoked) bool) (found, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := uint64(len(l.ring))
	for g := l.gen; g > 0; g-- {
		if l.gen-g >= n {
			return false, false
		}
		rv := &l.ring[g%n]
		if !within(rv) {
			return false, true
		}
		if match(rv) {
			return true, true
		}
	}
	return false, true
}

// memberRevokedAfter reports whether a removal of user from chat published after stream
// position asOf has been handled (or whether it cannot tell: known is false).
func (l *revocationLog) memberRevokedAfter(asOf int64, user, chat string) (found, known bool) {
	return l.find(func(rv *revoked) bool { return rv.pos > asOf },
		func(rv *revoked) bool { return rv.chat == chat && rv.user == user })
}

// sessionRevokedSince reports whether the session was revoked after generation gen (or
// whether it cannot tell: known is false).
func (l *revocationLog) sessionRevokedSince(gen uint64, hash string) (found, known bool) {
	return l.find(func(rv *revoked) bool { return rv.gen > gen },
		func(rv *revoked) bool { return rv.session == hash })
}
