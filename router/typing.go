package router

import (
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio"
)

// Events sent to a chat's room about its members typing: {chatId, userId}.
const (
	EventTypingStarted = "typing.started"
	EventTypingStopped = "typing.stopped"
)

// Typing indicators.
//
// The node that holds the socket owns its typing state: which chats it is typing in, each with
// a timer on the Socket.IO server's shared scheduler that ends the indicator when typing:start
// has not renewed it for TypingTimeout. Every change (started, stopped: by typing:stop, the
// timeout, room:leave, a revocation, the disconnect) is published once as a control message
// through PostgreSQL; every node, this one included, receives it (HandleControl) and
// broadcasts typing.started / typing.stopped to the chat's room, except the sending socket.
// One publisher sends a node's messages in order, so every node sees a socket's started and
// stopped in the order they happened.

// typingMessage is the control message of a typing change.
type typingMessage struct {
	Type   string `json:"type"` // ControlTyping
	Seq    uint64 `json:"seq"`  // unique per node: NOTIFY folds identical payloads of one transaction
	ChatID string `json:"chatId"`
	UserID string `json:"userId"`
	SID    string `json:"sid"` // the sending socket, excluded from the broadcast
	On     bool   `json:"on"`
}

// ControlTyping is the type of the control messages that carry typing indicators.
const ControlTyping = "typing"

// typingSeq numbers this process's typing messages.
var typingSeq atomic.Uint64

// onTypingStart handles typing:start {chatId} from a socket in chat:<chatId>.
func (r *Router) onTypingStart(s *socketio.Socket, e *socketio.Event) {
	chatID, ok := r.typingChat(s, e)
	if !ok {
		return
	}
	c := ClientOf(s)
	timeout := r.cmds.Limits.TypingTimeout
	c.mu.Lock()
	if t := c.typing[chatID]; t != nil { // still typing: extend the indicator, send nothing
		t.Reset(timeout)
		c.mu.Unlock()
		reply(e, commandAck{OK: true})
		return
	}
	c.mu.Unlock()
	rate := r.cmds.Limits.TypingRate
	if !c.typings.allow(time.Now(), rate, 2*rate) {
		r.refused(s, e, ErrRateLimited, chatID, nil)
		return
	}
	c.mu.Lock()
	if !c.closed && c.typing[chatID] == nil {
		if c.typing == nil {
			c.typing = make(map[string]*socketio.Timer, 1)
		}
		var t *socketio.Timer
		t = r.ns.NewTimer(func() { r.typingTimedOut(s, chatID, t) })
		c.typing[chatID] = t
		t.Reset(timeout)
		r.publishTyping(s, c, chatID, true) // under c.mu: a later stop is published after it
	}
	c.mu.Unlock()
	reply(e, commandAck{OK: true})
}

// onTypingStop handles typing:stop {chatId}. Stopping when not typing is not an error.
func (r *Router) onTypingStop(s *socketio.Socket, e *socketio.Event) {
	chatID, ok := r.typingChat(s, e)
	if !ok {
		return
	}
	r.stopTyping(s, chatID)
	reply(e, commandAck{OK: true})
}

// typingChat reads the chat of a typing command and checks that the socket is in its room;
// it answers the client itself when not.
func (r *Router) typingChat(s *socketio.Socket, e *socketio.Event) (string, bool) {
	chatID, err := chatIDArg(e.Args)
	if err != nil {
		r.refused(s, e, ErrBadRequest, "", err)
		return "", false
	}
	if !inRoom(s, ChatRoom(chatID)) {
		r.refused(s, e, ErrForbidden, chatID, nil)
		return "", false
	}
	return chatID, true
}

// stopTyping ends the socket's indicator in a chat, if it has one.
func (r *Router) stopTyping(s *socketio.Socket, chatID string) bool {
	c := ClientOf(s)
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.typing[chatID]
	if t == nil {
		return false
	}
	delete(c.typing, chatID)
	t.Stop()
	r.publishTyping(s, c, chatID, false)
	return true
}

// typingTimedOut runs on the scheduler when an indicator was not renewed in time.
func (r *Router) typingTimedOut(s *socketio.Socket, chatID string, t *socketio.Timer) {
	c := ClientOf(s)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.typing[chatID] != t { // stopped or restarted meanwhile
		return
	}
	delete(c.typing, chatID)
	r.publishTyping(s, c, chatID, false)
}

// stopAllTyping ends every indicator of a socket that is going away; no new one starts after.
func (r *Router) stopAllTyping(s *socketio.Socket, c *Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for chatID, t := range c.typing {
		t.Stop()
		r.publishTyping(s, c, chatID, false)
	}
	c.typing = nil
}

// publishTyping sends a typing change to every node. Called with c.mu held.
func (r *Router) publishTyping(s *socketio.Socket, c *Client, chatID string, on bool) {
	msg, _ := json.Marshal(typingMessage{
		Type: ControlTyping, Seq: typingSeq.Add(1), ChatID: chatID, UserID: c.UserID, SID: s.ID(), On: on,
	})
	if !r.cmds.Control.Publish(msg) {
		r.log.WithFields(logrus.Fields{"sid": s.ID(), "chat": chatID, "on": on}).
			Warn("typing indicator dropped: the control queue is full or the message too large")
	}
}

// deliverTyping broadcasts a typing change received from a node (this one included).
func (r *Router) deliverTyping(m *typingMessage) {
	if m.ChatID == "" || m.UserID == "" {
		r.log.WithField("message", m).Warn("control: typing message without chatId or userId; ignored")
		return
	}
	payload, _ := json.Marshal(struct {
		ChatID string `json:"chatId"`
		UserID string `json:"userId"`
	}{m.ChatID, m.UserID})
	event := EventTypingStopped
	if m.On {
		event = EventTypingStarted
	}
	n := r.ns.Broadcast([]string{ChatRoom(m.ChatID)}, m.SID, r.ns.EncodeEvent(event, payload))
	if r.log.IsLevelEnabled(logrus.DebugLevel) {
		r.log.WithFields(logrus.Fields{"event": event, "chat": m.ChatID, "user": m.UserID, "sockets": n}).Debug("delivered")
	}
}

// HandleControl handles a control message from any node (listener.Config.OnControl). It runs
// on the listener's goroutine and never blocks. Messages it does not know are logged and
// ignored.
func (r *Router) HandleControl(payload []byte) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		r.log.WithError(err).WithField("message", truncate(payload)).Warn("control: message is not JSON; ignored")
		return
	}
	switch head.Type {
	case ControlTyping:
		var m typingMessage
		if err := json.Unmarshal(payload, &m); err != nil {
			r.log.WithError(err).WithField("message", truncate(payload)).Warn("control: bad typing message; ignored")
			return
		}
		r.deliverTyping(&m)
	default:
		r.log.WithField("type", head.Type).Debug("control: message of an unknown type ignored")
	}
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
