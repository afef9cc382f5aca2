// Package router connects the event stream to sockets: it names rooms, authenticates sockets
// and joins them to their user room, and turns each envelope into one broadcast.
package router

import (
	"strings"

	"github.com/realtimed/realtimed/listener"
)

// Room name prefixes. A client never joins a room by name: user rooms are joined at
// authentication, chat rooms through room:join after a membership check.
const (
	userPrefix = "user:"
	chatPrefix = "chat:"
)

// UserRoom returns the room of every device of a user: user:<id>.
func UserRoom(userID string) string { return userPrefix + userID }

// ChatRoom returns the room of a chat: chat:<id>.
func ChatRoom(chatID string) string { return chatPrefix + chatID }

// UserOfRoom returns the user id of a user room (user:<id>), and false for any other room.
func UserOfRoom(room string) (string, bool) { return strings.CutPrefix(room, userPrefix) }

// Recipients returns the rooms an event is delivered to: its users' rooms, then its rooms as
// named. An internal event's only room is InternalRoom.
func Recipients(env *listener.Envelope) []string {
	rooms := make([]string, 0, len(env.Users)+len(env.Rooms))
	for _, u := range env.Users {
		rooms = append(rooms, UserRoom(u))
	}
	return append(rooms, env.Rooms...)
}
