// Package sioclient is a minimal Socket.IO v5 client over an Engine.IO v4 websocket, built for
// load generation: thousands of clients in one process, one goroutine each, no allocation per
// received message. It speaks just what the bench needs: the open handshake, CONNECT with an
// auth token, events with acks (room:join), heartbeats, and reading events.
//
// Spec: https://github.com/socketio/engine.io-protocol, https://github.com/socketio/socket.io-protocol.
package sioclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ConnectError is the server's CONNECT_ERROR: it refused the connection (bad token…).
type ConnectError struct {
	Message string
	Data    json.RawMessage
}

func (e *ConnectError) Error() string {
	return fmt.Sprintf("socket.io: connection refused: %s %s", e.Message, e.Data)
}

// Dialer opens clients. Its zero value is not usable: use NewDialer. It is safe for
// concurrent use.
type Dialer struct {
	ws    *websocket.Dialer
	wsURL string
}

// writePool shares write buffers between clients: a bench client writes rarely (pongs, acks).
var writePool = &sync.Pool{}

// NewDialer returns a dialer for the server at base (http://host:port, the Socket.IO path is
// /socket.io/). localAddr, when not nil, is the source address of every connection.
func NewDialer(base string, localAddr *net.TCPAddr) (*Dialer, error) {
	u, err := WebsocketURL(base)
	if err != nil {
		return nil, err
	}
	nd := &net.Dialer{Timeout: 30 * time.Second}
	if localAddr != nil {
		nd.LocalAddr = localAddr
	}
	return &Dialer{
		wsURL: u,
		ws: &websocket.Dialer{
			NetDialContext:   nd.DialContext,
			HandshakeTimeout: 30 * time.Second,
			ReadBufferSize:   2048,
			WriteBufferSize:  512,
			WriteBufferPool:  writePool,
		},
	}, nil
}

// WebsocketURL turns a server's base URL into its Engine.IO websocket endpoint.
func WebsocketURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", base, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server URL %q: scheme must be http or https", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	return u.String(), nil
}

// Client is one Socket.IO connection to the main namespace "/". After Dial, either call Call
// (setup) or Run (the read loop), never both at once: a Client has one reader.
type Client struct {
	ws     *websocket.Conn
	sid    string
	pid    string
	buf    []byte // reused for every received message
	nextID int
}

// Session is what a client sends to recover its connection state (socket.io-client >= 4.6):
// the pid of its previous CONNECT reply and the offset of the last event it received.
type Session struct {
	PID, Offset string
}

// Dial connects and authenticates with token (sent as auth.token). It returns a
// *ConnectError when the server refuses the connection.
func (d *Dialer) Dial(ctx context.Context, token string) (*Client, error) {
	return d.DialSession(ctx, token, Session{})
}

// DialSession is Dial asking to recover sess (when its PID is not empty): the client has
// recovered when its PID is sess.PID.
func (d *Dialer) DialSession(ctx context.Context, token string, sess Session) (*Client, error) {
	ws, resp, err := d.ws.DialContext(ctx, d.wsURL, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket handshake: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	c := &Client{ws: ws, buf: make([]byte, 0, 512)}
	if err := c.handshake(ctx, token, sess); err != nil {
		_ = ws.Close()
		return nil, err
	}
	return c, nil
}

// handshake reads the Engine.IO open packet, sends CONNECT with the token and waits for the reply.
func (c *Client) handshake(ctx context.Context, token string, sess Session) error {
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(deadline)
		defer c.ws.SetReadDeadline(time.Time{}) //nolint:errcheck
	}
	msg, err := c.next()
	if err != nil {
		return fmt.Errorf("reading the open packet: %w", err)
	}
	if len(msg) == 0 || msg[0] != '0' {
		return fmt.Errorf("expected the open packet, got %q", clip(msg))
	}
	auth, _ := json.Marshal(struct {
		Token  string `json:"token"`
		PID    string `json:"pid,omitempty"`
		Offset string `json:"offset,omitempty"`
	}{token, sess.PID, sess.Offset})
	if err := c.write(append([]byte("40"), auth...)); err != nil {
		return fmt.Errorf("sending CONNECT: %w", err)
	}
	for {
		msg, err := c.next()
		if err != nil {
			return fmt.Errorf("waiting for the CONNECT reply: %w", err)
		}
		switch {
		case bytes.HasPrefix(msg, []byte("40")):
			var reply struct {
				SID string `json:"sid"`
				PID string `json:"pid"`
			}
			if err := json.Unmarshal(msg[2:], &reply); err != nil || reply.SID == "" {
				return fmt.Errorf("bad CONNECT reply %q", clip(msg))
			}
			c.sid, c.pid = reply.SID, reply.PID
			return nil
		case bytes.HasPrefix(msg, []byte("44")):
			ce := &ConnectError{}
			var body struct {
				Message string          `json:"message"`
				Data    json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(msg[2:], &body); err != nil {
				return fmt.Errorf("bad CONNECT_ERROR %q", clip(msg))
			}
			ce.Message, ce.Data = body.Message, body.Data
			return ce
		}
	}
}

// SID returns the socket id from the CONNECT reply.
func (c *Client) SID() string { return c.sid }

// PID returns the private session id from the CONNECT reply ("" when the server does not
// offer connection-state recovery).
func (c *Client) PID() string { return c.pid }

// Call emits event with one argument and an ack id, and returns the ack's arguments (a JSON
// array). Packets other than the ack are skipped, so call it before Run, during setup.
func (c *Client) Call(ctx context.Context, event string, arg any) (json.RawMessage, error) {
	id := c.nextID
	c.nextID++
	payload, err := json.Marshal([]any{event, arg})
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", event, err)
	}
	pkt := strconv.AppendInt([]byte("42"), int64(id), 10)
	if err := c.write(append(pkt, payload...)); err != nil {
		return nil, fmt.Errorf("sending %s: %w", event, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(deadline)
		defer c.ws.SetReadDeadline(time.Time{}) //nolint:errcheck
	}
	want := strconv.AppendInt([]byte("43"), int64(id), 10)
	for {
		msg, err := c.next()
		if err != nil {
			return nil, fmt.Errorf("waiting for the ack of %s: %w", event, err)
		}
		if bytes.HasPrefix(msg, want) && len(msg) > len(want) && msg[len(want)] == '[' {
			return append(json.RawMessage(nil), msg[len(want):]...), nil
		}
	}
}

// Await reads until n EVENT packets have arrived (skipping other packets), or ctx ends. Call
// it before Run, as Call.
func (c *Client) Await(ctx context.Context, n int) error {
	if deadline, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(deadline)
		defer c.ws.SetReadDeadline(time.Time{}) //nolint:errcheck
	}
	for got := 0; got < n; {
		msg, err := c.next()
		if err != nil {
			return fmt.Errorf("waiting for event %d of %d: %w", got+1, n, err)
		}
		if len(msg) > 2 && msg[0] == '4' && msg[1] == '2' && msg[2] == '[' {
			got++
		}
	}
	return nil
}

// Run reads until the connection ends, answering heartbeats, and calls onEvent with the
// payload of every EVENT packet of the main namespace: the JSON array after "42" (event name
// first). The slice is reused after onEvent returns. Run returns nil when the connection was
// closed by Close or by the server's close frame.
func (c *Client) Run(onEvent func(msg []byte)) error {
	for {
		msg, err := c.next()
		if err != nil {
			if isClosed(err) {
				return nil
			}
			return err
		}
		if len(msg) > 2 && msg[0] == '4' && msg[1] == '2' && msg[2] == '[' {
			onEvent(msg[2:])
		}
	}
}

// next returns the next Engine.IO packet that is not a ping; it answers pings.
func (c *Client) next() ([]byte, error) {
	for {
		_, r, err := c.ws.NextReader()
		if err != nil {
			return nil, err
		}
		c.buf, err = readAll(r, c.buf[:0])
		if err != nil {
			return nil, err
		}
		if len(c.buf) == 1 && c.buf[0] == '2' {
			if err := c.write([]byte{'3'}); err != nil {
				return nil, err
			}
			continue
		}
		if len(c.buf) > 0 && c.buf[0] == '1' {
			return nil, io.EOF // Engine.IO close packet
		}
		return c.buf, nil
	}
}

// readAll reads r into buf, growing it only when a message is larger than any before.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (c *Client) write(b []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, b)
}

// Close closes the connection without a close handshake (as a client that goes away).
func (c *Client) Close() error { return c.ws.Close() }

func isClosed(err error) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

func clip(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
