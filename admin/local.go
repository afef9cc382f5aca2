package admin

import (
	"sort"
	"time"

	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
)

// Summary is one node's connected sockets.
type Summary struct {
	Node        string         `json:"node"`
	Count       int            `json:"count"`
	ByTransport map[string]int `json:"byTransport"`
}

// Device is one connected socket of a user.
type Device struct {
	SID         string    `json:"sid"`
	Node        string    `json:"node"`
	Transport   string    `json:"transport"`
	Rooms       []string  `json:"rooms"`
	ConnectedAt time.Time `json:"connectedAt"`
	Auth        string    `json:"auth"`
}

// Disconnected is what one node did for a disconnect request.
type Disconnected struct {
	Node         string `json:"node"`
	Disconnected int    `json:"disconnected"`
}

// local answers requests about the sockets of this node.
type local struct {
	node string
	ns   *socketio.Namespace
}

func (l local) summary() Summary {
	s := Summary{Node: l.node, ByTransport: map[string]int{"polling": 0, "websocket": 0}}
	for _, sock := range l.ns.Sockets() {
		s.Count++
		s.ByTransport[sock.Conn().Transport()]++
	}
	return s
}

func (l local) devices(userID string) []Device {
	socks := l.ns.Sockets(router.UserRoom(userID))
	out := make([]Device, 0, len(socks))
	for _, s := range socks {
		d := Device{
			SID: s.ID(), Node: l.node, Transport: s.Conn().Transport(), ConnectedAt: s.Conn().OpenedAt().UTC(),
			Rooms: s.Rooms(),
		}
		sort.Strings(d.Rooms)
		if c := router.ClientOf(s); c != nil {
			d.Auth = string(c.Method)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ConnectedAt.Before(out[j].ConnectedAt) })
	return out
}

// disconnect disconnects every socket of a user: the client sees "io server disconnect" and
// does not reconnect by itself.
func (l local) disconnect(userID string) Disconnected {
	socks := l.ns.Sockets(router.UserRoom(userID))
	for _, s := range socks {
		s.Disconnect(true)
	}
	return Disconnected{Node: l.node, Disconnected: len(socks)}
}
