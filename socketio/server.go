// Package socketio is the server side of the Socket.IO v5 protocol (socket.io@4), on top of
// engineio: namespaces, CONNECT with an auth payload and middlewares, events and acks in both
// directions, binary attachments, rooms, and broadcasts encoded once for all their receivers.
// It knows nothing of databases or of who may connect: those come in as middlewares and
// handlers.
//
// Spec: https://github.com/socketio/socket.io-protocol (v5).
package socketio

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio/engineio"
)

// Options configure a Server. Zero values select the documented defaults.
type Options struct {
	// Engine configures the Engine.IO layer (heartbeat, payload and queue limits, origins).
	Engine engineio.Options
	// ConnectTimeout closes a connection that has not joined a namespace in time. Zero means 10s:
	// the official client sends its CONNECT as soon as the connection opens.
	ConnectTimeout time.Duration
	// PendingMaxPayload bounds each message a connection may send until a namespace accepted
	// its CONNECT (the CONNECT packet and its auth payload), and binary attachments are refused
	// until then; it sets Engine.PendingMaxPayload. Zero means DefaultPendingMaxPayload.
	PendingMaxPayload int
	// MaxAttachments bounds the binary attachments of one packet. Zero means 10.
	MaxAttachments int
	// RecoveryMaxBytes bounds the missed events a recovering socket is sent (and the packets
	// held for it meanwhile); a session that missed more is not recovered. Zero means half of
	// the engine's send queue limit.
	RecoveryMaxBytes int
	// OnRead, when set, is called with the size of every message a client sends (traffic
	// counters). It runs on the connection's reading goroutine and must be quick.
	OnRead func(size int)
	// Logger receives protocol errors and lifecycle lines. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// Defaults of Options.
const (
	DefaultConnectTimeout    = 10 * time.Second
	DefaultPendingMaxPayload = 16 << 10 // a CONNECT with a long token (realtimed reads up to 8 KiB) and recovery fields
)

func (o Options) withDefaults() Options {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.PendingMaxPayload <= 0 {
		o.PendingMaxPayload = DefaultPendingMaxPayload
	}
	o.Engine.PendingMaxPayload = o.PendingMaxPayload
	if o.MaxAttachments <= 0 {
		o.MaxAttachments = 10
	}
	if o.Logger == nil {
		o.Logger = logrus.StandardLogger()
	}
	return o
}

// Server is a Socket.IO server. Mount it on "/socket.io/" (the client's default path).
type Server struct {
	opts   Options
	engine *engineio.Server
	log    logrus.FieldLogger

	mu   sync.RWMutex
	nsps map[string]*Namespace
}

// NewServer returns a server with no namespaces; call Of("/") to serve the main one.
func NewServer(opts Options) *Server {
	opts = opts.withDefaults()
	s := &Server{opts: opts, log: opts.Logger, nsps: make(map[string]*Namespace)}
	s.engine = engineio.NewServer(opts.Engine, opts.Logger, s.newClient)
	if s.opts.RecoveryMaxBytes <= 0 {
		s.opts.RecoveryMaxBytes = s.engine.Options().SendQueueLimit / 2
	}
	return s
}

// Of returns the namespace with the given name, creating it on first use. Configure it (Use,
// On, OnConnection) before clients connect to it.
func (s *Server) Of(name string) *Namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ns, ok := s.nsps[name]; ok {
		return ns
	}
	ns := newNamespace(s, name)
	s.nsps[name] = ns
	return ns
}

func (s *Server) namespace(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// Engine returns the underlying Engine.IO server.
func (s *Server) Engine() *engineio.Server { return s.engine }

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Shutdown disconnects every client (queued packets are still flushed, so each client sees a
// transport close and reconnects, possibly to another node) and waits for them to go, until ctx
// is done.
func (s *Server) Shutdown(ctx context.Context) { s.engine.Shutdown(ctx) }
