// Package router connects the event stream to sockets: it names rooms, authenticates sockets
// and joins them to their user room, and turns each envelope into one broadcast.
package router

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
