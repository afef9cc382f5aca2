package engineio

import (
	"net/http"
	"time"
)

// Options configure a Server. The zero value of every field selects the documented default,
// which matches Node's engine.io where one exists.
type Options struct {
	// PingInterval is how often the server sends a ping. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong before closing. Zero means 20s.
	PingTimeout time.Duration
	// MaxPayload is the largest message or polling request body accepted, in bytes. It is also
	// announced to clients in the open packet. Zero means 1,000,000.
	MaxPayload int
	// PendingMaxPayload is the largest message or polling request body accepted from a session
	// that has not been admitted yet (Conn.Admit: for Socket.IO, before a namespace accepted
	// its CONNECT). Zero means no separate limit: MaxPayload applies from the start.
	PendingMaxPayload int
	// MaxPending bounds the sessions of the server that have not been admitted yet; past it,
	// handshakes are refused with 503 Service Unavailable and a Retry-After header. Zero means
	// no limit.
	MaxPending int
	// ReadTimeout bounds how long a client may take to send one message once it has begun
	// (a websocket message whose first bytes arrived, the body of a polling POST). A message
	// that stalls closes the connection. Zero means 10s.
	ReadTimeout time.Duration
	// UpgradeTimeout bounds a polling→websocket upgrade. Zero means 10s.
	UpgradeTimeout time.Duration
	// CloseGrace is how long a polling session closed by the server waits for the client's next
	// GET to collect its last packets. Zero means the ping timeout.
	CloseGrace time.Duration
	// Transports lists the allowed transports, "polling" and/or "websocket". Nil allows both.
	Transports []string
	// DisableUpgrades stops the server offering polling→websocket upgrades.
	DisableUpgrades bool

	// SendQueueLimit bounds the bytes queued for one connection that the client has not yet
	// read. A connection that exceeds it is closed with CloseSlowConsumer. Zero means 4 MiB;
	// it is raised to at least MaxPayload.
	SendQueueLimit int
	// WriteTimeout bounds one websocket write. Zero means 10s.
	WriteTimeout time.Duration
	// ReadBufferSize is the read buffer of a websocket read by a goroutine of its own (see
	// GoroutineIO). Zero means 1024 bytes.
	ReadBufferSize int
	// GoroutineIO gives every websocket a goroutine of its own that reads it, and a flush
	// goroutine, started when there is something to send, that writes it. By default, on Linux,
	// one epoll poller watches all websockets (a goroutine runs only while a connection has
	// something to read) and a few shared writers drain the send queues with non-blocking
	// writes: an idle connection then holds no goroutine stack and no buffer, and a delivery
	// costs no goroutine and no allocation. Other systems always use goroutines.
	GoroutineIO bool

	// KeepHeaders lists the handshake request headers a connection keeps for the layers above
	// (Conn.Header), for instance to authenticate at Socket.IO CONNECT; the others are dropped
	// after the handshake, to save memory per connection. Nil means DefaultKeepHeaders; an
	// empty slice keeps none.
	KeepHeaders []string

	// CheckOrigin decides whether a request carrying an Origin header may proceed. Nil allows
	// only same-origin requests (Origin host equal to the Host header). Requests without an
	// Origin header (non-browser clients) are always allowed.
	CheckOrigin func(origin string, r *http.Request) bool
	// OnWrite, when set, is called after messages were written to a client (one call per
	// websocket write or long-polling response, with the time the write completed). It runs on
	// the writing goroutine and must be quick; msgs must not be retained. Use it to observe
	// delivery latency with Message.Stamp. The writing goroutine may be a broadcaster inside
	// Conn.SendDirect (socketio's Namespace.Broadcast, holding its namespace's read lock): OnWrite
	// must not call back into the server.
	OnWrite func(msgs []*Message, at time.Time)
	// AllowRequest, when set, is called for every handshake (new session) and may refuse it:
	// the error's message is sent to the client with HTTP 403, or with the status of a
	// *RequestError (e.g. 429 Too Many Requests and a Retry-After header).
	AllowRequest func(r *http.Request) error
}

// DefaultKeepHeaders are the handshake headers a connection keeps unless Options.KeepHeaders
// says otherwise.
var DefaultKeepHeaders = []string{"Authorization", "Cookie", "X-Forwarded-For"}

func (o Options) withDefaults() Options {
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 20 * time.Second
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 1_000_000
	}
	if o.PendingMaxPayload > o.MaxPayload {
		o.PendingMaxPayload = o.MaxPayload
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.UpgradeTimeout <= 0 {
		o.UpgradeTimeout = 10 * time.Second
	}
	if o.CloseGrace <= 0 {
		o.CloseGrace = o.PingTimeout
	}
	if o.Transports == nil {
		o.Transports = []string{transportPolling, transportWebsocket}
	}
	if o.SendQueueLimit <= 0 {
		o.SendQueueLimit = 4 << 20
	}
	if o.SendQueueLimit < o.MaxPayload {
		o.SendQueueLimit = o.MaxPayload
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 1024
	}
	if o.KeepHeaders == nil {
		o.KeepHeaders = DefaultKeepHeaders
	}
	keep := make([]string, len(o.KeepHeaders))
	for i, h := range o.KeepHeaders {
		keep[i] = http.CanonicalHeaderKey(h)
	}
	o.KeepHeaders = keep
	return o
}

func (o Options) allows(transport string) bool {
	for _, t := range o.Transports {
		if t == transport {
			return true
		}
	}
	return false
}
