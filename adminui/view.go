package adminui

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/realtimed/realtimed/socketio"
)

// SocketView is a socket as the Admin UI shows it (instrument()'s SerializedSocket).
type SocketView struct {
	ID string `json:"id"`
	// ClientID names the connection (the UI groups a client's sockets by it): a hash of the
	// Engine.IO session id, which is never shown (whoever knows it could join the session).
	ClientID  string    `json:"clientId"`
	Transport string    `json:"transport"`
	Nsp       string    `json:"nsp"`
	Data      any       `json:"data"`
	Handshake Handshake `json:"handshake"`
	Rooms     []string  `json:"rooms"`
}

// Handshake is what the UI shows of the request that opened the connection. Credentials are
// left out: the Authorization and Cookie headers, and a token in the query string.
type Handshake struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Time    string            `json:"time"`
	Issued  int64             `json:"issued"` // Unix milliseconds
	URL     string            `json:"url"`
	Secure  bool              `json:"secure"`
	XDomain bool              `json:"xdomain"`
}

// hiddenHeaders and hiddenQuery are never shown: they carry credentials.
var (
	hiddenHeaders = []string{"authorization", "cookie", "proxy-authorization"}
	hiddenQuery   = []string{"token", "access_token", "auth"}
)

// maxShownValue bounds a header or query value in a view.
const maxShownValue = 256

// viewOf describes a socket; describe gives its data (the application's part, e.g. the user).
func viewOf(s *socketio.Socket, describe func(*socketio.Socket) any) SocketView {
	conn := s.Conn()
	rooms := s.Rooms()
	slices.Sort(rooms)
	v := SocketView{
		ID: s.ID(), ClientID: clientID(conn.ID()), Transport: conn.Transport(), Nsp: s.Namespace().Name(),
		Data: map[string]any{}, Rooms: rooms,
		Handshake: Handshake{
			Address: conn.RemoteAddr(),
			Headers: shownHeaders(conn.Header()),
			Query:   shownQuery(conn.Query()),
			Time:    conn.OpenedAt().UTC().Format(time.RFC1123),
			Issued:  conn.OpenedAt().UnixMilli(),
			URL:     "/socket.io/",
		},
	}
	if describe != nil {
		if d := describe(s); d != nil {
			v.Data = d
		}
	}
	return v
}

// clientID is a short name of an Engine.IO session that does not reveal its id.
func clientID(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:6])
}

func shownHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for name, values := range h {
		name = strings.ToLower(name)
		if slices.Contains(hiddenHeaders, name) {
			continue
		}
		out[name] = clip(strings.Join(values, ", "))
	}
	return out
}

func shownQuery(q url.Values) map[string]string {
	out := map[string]string{}
	for name, values := range q {
		if slices.Contains(hiddenQuery, strings.ToLower(name)) || len(values) == 0 {
			continue
		}
		out[clip(name)] = clip(values[0])
	}
	return out
}

func clip(s string) string {
	if len(s) <= maxShownValue {
		return s
	}
	return s[:maxShownValue] + "…"
}
