// Package siotest is a minimal Socket.IO v5 client over an Engine.IO v4 websocket, for Go
// tests of what happens at CONNECT: the handshake, the auth payload, and the server's
// CONNECT or CONNECT_ERROR answer.
package siotest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// Options tune a connection.
type Options struct {
	// Auth is the CONNECT auth payload, marshalled as JSON (nil: none).
	Auth any
	// Header is sent with the websocket handshake (Authorization, Origin).
	Header http.Header
	// Query is added to the handshake URL.
	Query url.Values
	// TLS configures wss:// connections.
	TLS *tls.Config
	// LocalAddr is the source address to dial from (e.g. 127.0.0.2).
	LocalAddr string
	// Namespace is the namespace to connect to. Empty means "/".
	Namespace string
}

// ConnectError is a CONNECT_ERROR payload.
type ConnectError struct {
	Message string            `json:"message"`
	Data    map[string]string `json:"data"`
}

// Code returns data.code.
func (e *ConnectError) Code() string { return e.Data["code"] }

// Conn is an open connection.
type Conn struct {
	ws     *websocket.Conn
	prefix string // what packets of the namespace start with after their type: "" or "/nsp,"
	// SID is the Socket.IO socket id after a successful CONNECT.
	SID string
	// PID is the private session id of the CONNECT answer (connection-state recovery), if any.
	PID string
	// Refused is the CONNECT_ERROR payload when the server refused.
	Refused *ConnectError

	pending []string // packets read while Call waited for its ack, for Next
	nextAck int
}

// ErrClosed reports that the server closed the connection instead of answering CONNECT
// (a transient refusal: the client should retry).
var ErrClosed = errors.New("siotest: connection closed before the CONNECT answer")

// HandshakeError is an HTTP refusal of the websocket handshake.
type HandshakeError struct {
	Status int
	Header http.Header
	Body   string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake refused: %d %s", e.Status, e.Body)
}

// Connect opens a websocket session to base (http(s)://host:port) and sends CONNECT for "/".
// It returns when the server answered: Conn.SID set (connected) or Conn.Refused set
// (CONNECT_ERROR). A refused handshake is a *HandshakeError; a connection closed without an
// answer is ErrClosed.
func Connect(ctx context.Context, base string, o Options) (*Conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = "/socket.io/"
	q := url.Values{}
	for k, vs := range o.Query {
		q[k] = vs
	}
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	d := websocket.Dialer{TLSClientConfig: o.TLS, HandshakeTimeout: 10 * time.Second}
	if o.LocalAddr != "" {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(o.LocalAddr)}}
		d.NetDialContext = nd.DialContext
	}
	ws, resp, err := d.DialContext(ctx, u.String(), o.Header)
	if err != nil {
		if resp != nil {
			return nil, handshakeError(resp)
		}
		return nil, fmt.Errorf("siotest: dial %s: %w", u, err)
	}
	c := &Conn{ws: ws}
	if o.Namespace != "" && o.Namespace != "/" {
		c.prefix = o.Namespace + ","
	}
	if err := c.connect(ctx, o.Auth); err != nil {
		ws.Close()
		return nil, err
	}
	return c, nil
}

func handshakeError(resp *http.Response) error {
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return &HandshakeError{Status: resp.StatusCode, Header: resp.Header, Body: string(buf[:n])}
}

func (c *Conn) connect(ctx context.Context, auth any) error {
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(deadline)
		defer c.ws.SetReadDeadline(time.Time{})
	}
	msg, err := c.read()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(msg, "0") {
		return fmt.Errorf("siotest: expected the open packet, got %q", msg)
	}
	packet := "40" + c.prefix
	if auth != nil {
		b, err := json.Marshal(auth)
		if err != nil {
			return err
		}
		packet += string(b)
	}
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(packet)); err != nil {
		return fmt.Errorf("siotest: sending CONNECT: %w", err)
	}
	for {
		msg, err := c.read()
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(msg, "40"+c.prefix):
			var ok struct {
				SID string `json:"sid"`
				PID string `json:"pid"`
			}
			if err := json.Unmarshal([]byte(msg[2+len(c.prefix):]), &ok); err != nil {
				return fmt.Errorf("siotest: CONNECT answer %q: %w", msg, err)
			}
			c.SID, c.PID = ok.SID, ok.PID
			return nil
		case strings.HasPrefix(msg, "44"+c.prefix):
			c.Refused = &ConnectError{}
			if err := json.Unmarshal([]byte(msg[2+len(c.prefix):]), c.Refused); err != nil {
				return fmt.Errorf("siotest: CONNECT_ERROR %q: %w", msg, err)
			}
			return nil
		}
	}
}

// read returns the next text message, answering pings.
func (c *Conn) read() (string, error) {
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") ||
				strings.Contains(err.Error(), "reset by peer") {
				return "", ErrClosed
			}
			return "", fmt.Errorf("siotest: reading: %w", err)
		}
		msg := string(b)
		if msg == "2" {
			_ = c.ws.WriteMessage(websocket.TextMessage, []byte("3"))
			continue
		}
		return msg, nil
	}
}

// Next returns the next Socket.IO packet after the CONNECT answer (an event is
// `2["name",…]`), answering pings, or an error when ctx ends or the connection closes.
func (c *Conn) Next(ctx context.Context) (string, error) {
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(deadline)
		defer c.ws.SetReadDeadline(time.Time{})
	}
	if len(c.pending) > 0 {
		p := c.pending[0]
		c.pending = c.pending[1:]
		return p, nil
	}
	for {
		msg, err := c.read()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(msg, "4") {
			return msg[1:], nil
		}
	}
}

// Call emits event with arg and an ack id, and returns the ack's arguments (a JSON array).
// Packets that arrive meanwhile are kept for Next.
func (c *Conn) Call(ctx context.Context, event string, arg any) (string, error) {
	payload, err := json.Marshal([]any{event, arg})
	if err != nil {
		return "", err
	}
	id := fmt.Sprint(c.nextAck)
	c.nextAck++
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte("42"+c.prefix+id+string(payload))); err != nil {
		return "", fmt.Errorf("siotest: sending %s: %w", event, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(deadline)
		defer c.ws.SetReadDeadline(time.Time{})
	}
	for {
		msg, err := c.read()
		if err != nil {
			return "", err
		}
		if ack, ok := strings.CutPrefix(msg, "43"+c.prefix+id+"["); ok {
			return "[" + ack, nil
		}
		if strings.HasPrefix(msg, "4") {
			c.pending = append(c.pending, msg[1:])
		}
	}
}

// Event is an event the server sent.
type Event struct {
	Name string
	Args []json.RawMessage
}

// NextEvent returns the next event of the connection's namespace, skipping other packets.
func (c *Conn) NextEvent(ctx context.Context) (Event, error) {
	for {
		p, err := c.Next(ctx)
		if err != nil {
			return Event{}, err
		}
		body, ok := strings.CutPrefix(p, "2"+c.prefix)
		if !ok {
			continue
		}
		var parts []json.RawMessage
		if err := json.Unmarshal([]byte(body), &parts); err != nil || len(parts) == 0 {
			return Event{}, fmt.Errorf("siotest: malformed event %q", p)
		}
		var e Event
		if err := json.Unmarshal(parts[0], &e.Name); err != nil {
			return Event{}, fmt.Errorf("siotest: malformed event %q", p)
		}
		e.Args = parts[1:]
		return e, nil
	}
}

// Emit sends an event with args (marshalled as JSON) to the connection's namespace.
func (c *Conn) Emit(event string, args ...any) error {
	b, err := json.Marshal(append([]any{event}, args...))
	if err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, []byte("42"+c.prefix+string(b)))
}

// WaitClosed waits until the server closes the connection, or ctx ends.
func (c *Conn) WaitClosed(ctx context.Context) error {
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(deadline)
	}
	for {
		if _, err := c.read(); err != nil {
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.ws.Close() }
