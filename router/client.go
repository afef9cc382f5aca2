package router

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/socketio"
)

// Client is what the router keeps on each socket (Socket.Data).
type Client struct {
	auth.Identity
	// SessionHash names the session of a client authenticated with a session token
	// (SessionHash(token), as realtime.session_hash computes it in SQL); empty for JWTs.
	SessionHash string

	// revGen is the revocation generation before the credentials were verified.
	revGen uint64

	// Guarded by mu: state that handlers, timers, revocations and the disconnect all touch.
	mu     sync.Mutex
	expiry *socketio.Timer            // closes the transport when the credentials expire
	typing map[string]*socketio.Timer // chat id → automatic typing.stopped, while typing
	chats  map[string]int64           // chat id → stream position its room:join was checked as of
	closed bool                       // disconnected: no new typing state

	// Used only by the socket's event handlers, which run one at a time.
	events, typings bucket
	limitedLogged   bool
}

// ClientOf returns the router's data of a socket, or nil before authentication.
func ClientOf(s *socketio.Socket) *Client {
	c, _ := s.Data.(*Client)
	return c
}

// SessionHash returns the hex SHA-256 of a session token: how a session is named in
// revocations (realtime.session_hash in SQL), so that no token travels in a notification or a
// log line.
func SessionHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// inRoom reports whether the socket is in room.
func inRoom(s *socketio.Socket, room string) bool {
	for _, r := range s.Rooms() {
		if r == room {
			return true
		}
	}
	return false
}

// admitChat records that the client joins chat on a membership check as of stream position
// asOf.
func (c *Client) admitChat(chatID string, asOf int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.chats == nil {
		c.chats = make(map[string]int64, 1)
	}
	c.chats[chatID] = max(c.chats[chatID], asOf)
}

// forgetChat applies a removal from chat published at stream position pos: it reports false
// when the client's membership was checked as of pos or later (the removal is older than the
// check), and otherwise forgets the chat.
func (c *Client) forgetChat(chatID string, pos int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if asOf, ok := c.chats[chatID]; ok && asOf >= pos {
		return false
	}
	delete(c.chats, chatID)
	return true
}
