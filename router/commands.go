package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio"
)

// Client commands (DESIGN.md, "Rooms and client commands").
const (
	CmdRoomJoin    = "room:join"
	CmdRoomLeave   = "room:leave"
	CmdTypingStart = "typing:start"
	CmdTypingStop  = "typing:stop"
)

// Error codes of command acks: {ok:false, error:"<code>"}.
const (
	ErrBadRequest   = "bad_request"       // the payload is not {chatId: "<id>"}
	ErrForbidden    = "forbidden"         // the user is not a member of the chat (or not in its room)
	ErrNotFound     = "not_found"         // there is no such chat
	ErrUnavailable  = "unavailable"       // the database could not answer; try again
	ErrRateLimited  = "rate_limited"      // the socket sent too many events
	ErrTooLarge     = "payload_too_large" // the event's arguments are over the size limit
	ErrUnknownEvent = "unknown_event"     // the server has no such command
)

// maxChatIDBytes bounds a chat id; longer ids are bad requests.
const maxChatIDBytes = 256

// Commands configures the client commands.
type Commands struct {
	// Membership decides who may join a chat room. Required.
	Membership *Membership
	// Control carries typing indicators to every node (cluster.Cluster.Publish: NOTIFY through
	// PostgreSQL); they come back to each node's HandleControl. Required.
	Control Publisher
	// QueryTimeout bounds one membership check. Zero means 5s.
	QueryTimeout time.Duration
	// RecheckRemovals asks the database again before a removal from a chat takes out a
	// socket whose membership was checked before the removal's position was known. Set it for
	// the wal source: positions are drawn when the stream reader appends, after the commit, so a
	// check can see a database where the user was removed and added again while the removal's
	// position is still to come (docs/delivery.md, "The wal source"). False (the notify
	// source: positions are drawn at commit) trusts the positions alone.
	RecheckRemovals bool
	// Limits bound what one socket may send.
	Limits Limits
}

// Publisher sends a control message to every node, without blocking; false when dropped.
type Publisher interface {
	Publish(msg []byte) bool
}

// Limits bound what one socket may send. Zero values select the documented defaults.
type Limits struct {
	// EventRate is the client events a socket may send per second, with bursts of twice as
	// many; the rest are dropped (acked rate_limited). Zero means 20.
	EventRate float64
	// MaxEventBytes bounds one client event's arguments; larger events are dropped (acked
	// payload_too_large). Zero means 4096.
	MaxEventBytes int
	// TypingRate is the typing indicators a socket may start per second, with bursts of twice
	// as many (typing:start while already typing only extends the indicator). Zero means 2.
	TypingRate float64
	// TypingTimeout ends a typing indicator that typing:start has not renewed. Zero means 5s.
	TypingTimeout time.Duration
}

// Default limits.
const (
	DefaultEventRate     = 20
	DefaultMaxEventBytes = 4096
	DefaultTypingRate    = 2
	DefaultTypingTimeout = 5 * time.Second
)

func (l Limits) withDefaults() Limits {
	if l.EventRate <= 0 {
		l.EventRate = DefaultEventRate
	}
	if l.MaxEventBytes <= 0 {
		l.MaxEventBytes = DefaultMaxEventBytes
	}
	if l.TypingRate <= 0 {
		l.TypingRate = DefaultTypingRate
	}
	if l.TypingTimeout <= 0 {
		l.TypingTimeout = DefaultTypingTimeout
	}
	return l
}

// commandAck is the acknowledgement of a command.
type commandAck struct {
	OK    bool   `json:"ok"`
	Room  string `json:"room,omitempty"`
	Error string `json:"error,omitempty"`
}

func okAck(room string) commandAck   { return commandAck{OK: true, Room: room} }
func failAck(code string) commandAck { return commandAck{Error: code} }

// reply acknowledges a command; it does nothing when the client asked for no ack.
func reply(e *socketio.Event, a commandAck) { _ = e.Ack(a) }

func (c Commands) timeout() time.Duration {
	if c.QueryTimeout <= 0 {
		return 5 * time.Second
	}
	return c.QueryTimeout
}

// EnableCommands registers the client commands (room:join, room:leave, typing:start,
// typing:stop) on the router's namespace, behind the per-socket limits, which also apply to
// unknown events. Call it before clients connect.
func (r *Router) EnableCommands(c Commands) {
	if c.Membership == nil || c.Control == nil {
		panic("router: Commands.Membership and Commands.Control are required")
	}
	c.Limits = c.Limits.withDefaults()
	r.cmds = c
	r.ns.On(CmdRoomJoin, r.guard(r.onRoomJoin))
	r.ns.On(CmdRoomLeave, r.guard(r.onRoomLeave))
	r.ns.On(CmdTypingStart, r.guard(r.onTypingStart))
	r.ns.On(CmdTypingStop, r.guard(r.onTypingStop))
	r.ns.OnUnknown(r.guard(r.onUnknown))
}

// Membership returns the membership checker of the commands (nil before EnableCommands).
func (r *Router) Membership() *Membership { return r.cmds.Membership }

// onRoomJoin handles room:join {chatId}: the socket joins chat:<chatId> if the database says its
// user is a member of the chat.
func (r *Router) onRoomJoin(s *socketio.Socket, e *socketio.Event) {
	chatID, err := chatIDArg(e.Args)
	if err != nil {
		r.refused(s, e, ErrBadRequest, "", err)
		return
	}
	c := ClientOf(s)
	ctx, cancel := context.WithTimeout(context.Background(), r.cmds.timeout())
	access, asOf, err := r.cmds.Membership.Check(ctx, c.UserID, chatID)
	cancel()
	switch {
	case errors.Is(err, ErrBadChatID):
		r.refused(s, e, ErrBadRequest, chatID, err)
		return
	case err != nil:
		r.log.WithFields(logrus.Fields{"sid": s.ID(), "user": c.UserID, "chat": chatID}).WithError(err).
			Warn("room:join: membership check failed")
		reply(e, failAck(ErrUnavailable))
		return
	case access == NoSuchChat:
		r.refused(s, e, ErrNotFound, chatID, nil)
		return
	case access == NotMember:
		r.refused(s, e, ErrForbidden, chatID, nil)
		return
	}
	if code := r.joinChecked(s, c, chatID, asOf); code != "" {
		r.refused(s, e, code, chatID, nil)
		return
	}
	room := ChatRoom(chatID)
	r.log.WithFields(logrus.Fields{"sid": s.ID(), "user": c.UserID, "room": room}).Debug("joined")
	reply(e, okAck(room))
}

// joinChecked joins the chat's room on a membership check as of stream position asOf (see
// AdmitChat). It returns an error code, or "" once joined.
func (r *Router) joinChecked(s *socketio.Socket, c *Client, chatID string, asOf int64) string {
	if code := r.admit(c, chatID, asOf); code != "" {
		return code
	}
	room := ChatRoom(chatID)
	s.Join(room)
	if code := r.admit(c, chatID, asOf); code != "" { // a removal was handled while joining
		c.forgetChat(chatID, math.MaxInt64)
		s.Leave(room)
		return code
	}
	return ""
}

// AdmitChat prepares a socket to be put in chat:<chatID> on a membership check that
// Membership.Check answered as of stream position asOf, for a caller that joins the room
// itself (the chat rooms of a recovered session). It reports false when a removal of the user
// from the chat published after asOf has been handled already (it found the socket outside the
// room and had nothing to take it out of), or when that cannot be told. Otherwise it records
// asOf, so that a removal older than the check, handled late, leaves the socket in the room.
func (r *Router) AdmitChat(s *socketio.Socket, chatID string, asOf int64) bool {
	c := ClientOf(s)
	return c != nil && r.admit(c, chatID, asOf) == ""
}

// admit checks the revocation log for a removal after asOf and records the admission. It
// returns an error code, or "".
func (r *Router) admit(c *Client, chatID string, asOf int64) string {
	switch revoked, known := r.revs.memberRevokedAfter(asOf, c.UserID, chatID); {
	case revoked:
		return ErrForbidden
	case !known:
		return ErrUnavailable
	}
	c.admitChat(chatID, asOf)
	return ""
}

// onRoomLeave handles room:leave {chatId}: the socket leaves chat:<chatId> (whether or not it
// was in it).
func (r *Router) onRoomLeave(s *socketio.Socket, e *socketio.Event) {
	chatID, err := chatIDArg(e.Args)
	if err != nil {
		r.refused(s, e, ErrBadRequest, "", err)
		return
	}
	room := r.leaveChat(s, chatID)
	r.log.WithFields(logrus.Fields{"sid": s.ID(), "user": ClientOf(s).UserID, "room": room}).Debug("left")
	reply(e, okAck(room))
}

// leaveChat takes a socket out of a chat's room (its typing indicator there ends) and returns
// the room.
func (r *Router) leaveChat(s *socketio.Socket, chatID string) string {
	room := ChatRoom(chatID)
	if c := ClientOf(s); c != nil {
		c.forgetChat(chatID, math.MaxInt64)
	}
	s.Leave(room)
	r.stopTyping(s, chatID)
	return room
}

// MayLeave reports whether an operator (the Admin UI) may take sockets out of room: chat rooms
// only. Out of its user room, a socket would stay connected but receive nothing.
func (r *Router) MayLeave(room string) bool {
	chatID, ok := strings.CutPrefix(room, chatPrefix)
	return ok && chatID != ""
}

// Leave takes a socket out of a chat room for an operator, as room:leave does. Other rooms are
// left alone.
func (r *Router) Leave(s *socketio.Socket, room string) {
	if r.MayLeave(room) {
		r.leaveChat(s, strings.TrimPrefix(room, chatPrefix))
	}
}

// refused answers a command with an error code and logs why, at debug level.
func (r *Router) refused(s *socketio.Socket, e *socketio.Event, code, chatID string, err error) {
	entry := r.log.WithFields(logrus.Fields{"sid": s.ID(), "event": e.Name, "code": code})
	if c := ClientOf(s); c != nil {
		entry = entry.WithField("user", c.UserID)
	}
	if chatID != "" {
		entry = entry.WithField("chat", chatID)
	}
	if err != nil {
		entry = entry.WithError(err)
	}
	entry.Debug("command refused")
	reply(e, failAck(code))
}

// chatIDArg reads the {chatId} argument of a command. A chat id is a non-empty string of at most
// maxChatIDBytes bytes, or an integer (for schemas with numeric ids), used as its decimal text.
func chatIDArg(args []json.RawMessage) (string, error) {
	if len(args) == 0 {
		return "", errors.New("missing argument {chatId}")
	}
	raw := bytes.TrimSpace(args[0])
	if len(raw) == 0 || raw[0] != '{' {
		return "", errors.New("the argument must be an object {chatId}")
	}
	var p struct {
		ChatID json.RawMessage `json:"chatId"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("the argument must be an object {chatId}: %w", err)
	}
	switch {
	case len(p.ChatID) == 0 || string(p.ChatID) == "null":
		return "", errors.New("chatId is missing")
	case p.ChatID[0] == '"':
		var id string
		if err := json.Unmarshal(p.ChatID, &id); err != nil {
			return "", fmt.Errorf("chatId: %w", err)
		}
		if id == "" || len(id) > maxChatIDBytes {
			return "", fmt.Errorf("chatId must be 1 to %d bytes long", maxChatIDBytes)
		}
		return id, nil
	}
	n, err := strconv.ParseInt(string(p.ChatID), 10, 64)
	if err != nil {
		return "", errors.New("chatId must be a string or an integer")
	}
	return strconv.FormatInt(n, 10), nil
}
