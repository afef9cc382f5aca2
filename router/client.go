package router

import (
	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/socketio"
)

// Client is what the router keeps on each socket (Socket.Data).
type Client struct {
	auth.Identity
}

// ClientOf returns the router's data of a socket, or nil before authentication.
func ClientOf(s *socketio.Socket) *Client {
	c, _ := s.Data.(*Client)
	return c
}
