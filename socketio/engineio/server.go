// Package engineio is the server side of the Engine.IO v4 protocol: the open handshake, HTTP
// long-polling and websocket transports, the polling→websocket upgrade, server-sent heartbeats
// and a bounded send queue per connection. It knows nothing of Socket.IO: message packets are
// handed to a Handler.
//
// Spec: https://github.com/socketio/engine.io-protocol (v4).
package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio/internal/sched"
)

// ErrServerClosed is returned by Server methods after Close.
var ErrServerClosed = errors.New("engine.io: server closed")

// Server is an Engine.IO server. Mount it as an http.Handler on the engine's path.
type Server struct {
	opts     Options
	onOpen   func(*Conn) Handler
	log      logrus.FieldLogger
	sched    *sched.Scheduler
	upgrader *websocket.Upgrader
	serverPending

	mu       sync.RWMutex
	sessions map[string]*Conn
	closed   bool
}

// NewServer returns a server that calls onOpen for every new session; the Handler it returns
// receives that session's messages. log may be nil (logrus' standard logger is used).
func NewServer(opts Options, log logrus.FieldLogger, onOpen func(*Conn) Handler) *Server {
	if log == nil {
		log = logrus.StandardLogger()
	}
	s := &Server{
		opts:     opts.withDefaults(),
		onOpen:   onOpen,
		log:      log,
		sched:    sched.New(),
		sessions: make(map[string]*Conn),
	}
	s.upgrader = s.newUpgrader()
	return s
}

// Options returns the server's options with defaults applied.
func (s *Server) Options() Options { return s.opts }

// Scheduler returns the server's shared timer scheduler, for layers above that need timeouts.
func (s *Server) Scheduler() *sched.Scheduler { return s.sched }

// Count returns the number of open sessions.
func (s *Server) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

// TransportCounts returns the number of open sessions on each transport ("polling",
// "websocket"). It walks every session: call it for introspection, not per message.
func (s *Server) TransportCounts() map[string]int {
	s.mu.RLock()
	conns := make([]*Conn, 0, len(s.sessions))
	for _, c := range s.sessions {
		conns = append(conns, c)
	}
	s.mu.RUnlock()
	counts := map[string]int{transportPolling: 0, transportWebsocket: 0}
	for _, c := range conns {
		counts[c.Transport()]++
	}
	return counts
}

// Close closes every session with CloseServerShutdown (queued messages are still flushed) and
// refuses new ones. It does not wait for the sessions to finish.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*Conn, 0, len(s.sessions))
	for _, c := range s.sessions {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(CloseServerShutdown, nil)
	}
}

// Shutdown closes the server and waits until every session has finished or ctx is done, when
// the remaining ones are dropped. The scheduler stops afterwards.
func (s *Server) Shutdown(ctx context.Context) {
	s.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.Count() > 0 {
		select {
		case <-ctx.Done():
			s.dropAll()
			s.sched.Close()
			return
		case <-tick.C:
		}
	}
	s.sched.Close()
}

func (s *Server) dropAll() {
	s.mu.RLock()
	conns := make([]*Conn, 0, len(s.sessions))
	for _, c := range s.sessions {
		conns = append(conns, c)
	}
	s.mu.RUnlock()
	for _, c := range conns {
		c.finish()
	}
}

// ServeHTTP implements the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		s.refuse(w, r, http.StatusBadRequest, codeUnsupportedVersion, "", "EIO is not 4")
		return
	}
	transport := q.Get("transport")
	if !s.opts.allows(transport) {
		s.refuse(w, r, http.StatusBadRequest, codeUnknownTransport, "", "transport not allowed")
		return
	}
	if !s.originAllowed(r) {
		s.refuse(w, r, http.StatusForbidden, codeForbidden, "Origin not allowed", "origin not allowed")
		return
	}
	s.setCORS(w, r)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	sid := q.Get("sid")
	if sid == "" {
		s.serveHandshake(w, r, transport)
		return
	}
	c := s.lookup(sid)
	if c == nil {
		s.refuse(w, r, http.StatusBadRequest, codeUnknownSID, "", "unknown sid")
		return
	}
	if transport == transportWebsocket {
		if !websocket.IsWebSocketUpgrade(r) || s.opts.DisableUpgrades {
			s.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "websocket request for a session is not an upgrade")
			return
		}
		s.serveUpgrade(w, r, c)
		return
	}
	switch r.Method {
	case http.MethodGet:
		c.servePoll(w, r)
	case http.MethodPost:
		c.serveData(w, r)
	default:
		s.refuse(w, r, http.StatusBadRequest, codeBadHandshakeMethod, "", "method not allowed")
	}
}

// refuse answers a request the protocol does not allow, as Node's engine.io does, and logs why
// at debug level (a refused request changes no session, and clients can send many).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status, code int, message, why string) {
	s.logRefused(r, status, code, why)
	writeError(w, status, code, message)
}

func (s *Server) logRefused(r *http.Request, status, code int, why string) {
	q := r.URL.Query()
	s.log.WithFields(logrus.Fields{
		"remote": r.RemoteAddr, "method": r.Method, "transport": q.Get("transport"),
		"sid": q.Get("sid"), "status": status, "code": code, "why": why,
	}).Debug("engine.io: request refused")
}

func (s *Server) serveHandshake(w http.ResponseWriter, r *http.Request, transport string) {
	if r.Method != http.MethodGet {
		s.refuse(w, r, http.StatusBadRequest, codeBadHandshakeMethod, "", "handshake is not a GET")
		return
	}
	isUpgrade := websocket.IsWebSocketUpgrade(r)
	if transport == transportWebsocket && !isUpgrade {
		s.refuse(w, r, http.StatusBadRequest, codeBadRequest, "", "websocket handshake is not an upgrade")
		return
	}
	if s.opts.AllowRequest != nil {
		if err := s.opts.AllowRequest(r); err != nil {
			s.logRefused(r, refusalStatus(err), codeForbidden, "refused by AllowRequest: "+err.Error())
			writeRefusal(w, err)
			return
		}
	}
	if !s.reservePending() {
		s.refusePending(w, r)
		return
	}
	if transport == transportWebsocket {
		s.serveWebsocketHandshake(w, r)
		return
	}
	c := s.newConn(r)
	c.pollWake = make(chan struct{}, 1)
	if !s.open(c) {
		c.endPending()
		s.refuse(w, r, http.StatusServiceUnavailable, codeBadRequest, "Server shutting down", "server shutting down")
		return
	}
	writePayload(w, AppendPacket(nil, Packet{Type: PacketOpen, Data: s.openPayload(c.id, true)}))
}

func (s *Server) newConn(r *http.Request) *Conn {
	c := &Conn{
		id:       newSessionID(),
		srv:      s,
		remote:   r.RemoteAddr,
		header:   keptHeaders(r.Header, s.opts.KeepHeaders),
		query:    appQuery(r.URL.Query()),
		openedAt: time.Now(),
	}
	c.timer = sched.NewTimer(c.onTimer)
	return c
}

// open hands a new session to the upper layer, registers it and starts its heartbeat. The
// handler is set before the session can be found (and closed) by anyone else.
func (s *Server) open(c *Conn) bool {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return false
	}
	c.handler = s.onOpen(c)
	s.mu.Lock()
	if s.closed { // closed meanwhile: the handler still gets its OnClose
		s.mu.Unlock()
		c.mu.Lock()
		c.reason = CloseServerShutdown
		c.mu.Unlock()
		c.finish()
		return false
	}
	s.sessions[c.id] = c
	s.mu.Unlock()
	s.sched.Reset(c.timer, s.opts.PingInterval)
	return true
}

func (s *Server) lookup(sid string) *Conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessions[sid]
}

func (s *Server) remove(c *Conn) {
	s.mu.Lock()
	if s.sessions[c.id] == c {
		delete(s.sessions, c.id)
	}
	s.mu.Unlock()
}

func (s *Server) openPayload(sid string, canUpgrade bool) []byte {
	upgrades := []string{}
	if canUpgrade && !s.opts.DisableUpgrades && s.opts.allows(transportWebsocket) {
		upgrades = append(upgrades, transportWebsocket)
	}
	b, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sid, upgrades, s.opts.PingInterval.Milliseconds(), s.opts.PingTimeout.Milliseconds(), s.opts.MaxPayload})
	return b
}

// originAllowed applies CheckOrigin to browser requests (those with an Origin header).
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if s.opts.CheckOrigin != nil {
		return s.opts.CheckOrigin(origin, r)
	}
	return SameOrigin(origin, r)
}

// SameOrigin reports whether origin names the host the request was sent to.
func SameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// setCORS adds the headers a browser needs to read a cross-origin polling response with
// credentials. The origin has already been checked.
func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "86400")
	}
}

func newSessionID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// keptHeaders copies the headers in keep out of a handshake request, as name, value pairs. A
// connection lives long, and a browser's request headers weigh a kilobyte or more (a map, even
// of one header, several hundred bytes): only what layers above use after the handshake is
// kept, in a slice.
func keptHeaders(h http.Header, keep []string) []string {
	var out []string
	for _, k := range keep {
		for _, v := range h[k] {
			if out == nil {
				out = make([]string, 0, 2)
			}
			out = append(out, k, v)
		}
	}
	return out
}

// protocolParams are the query parameters of Engine.IO itself.
var protocolParams = []string{"EIO", "transport", "sid", "t", "j", "b64"}

// appQuery returns q without Engine.IO's own parameters, or nil when nothing else is left.
func appQuery(q url.Values) url.Values {
	for _, k := range protocolParams {
		delete(q, k)
	}
	if len(q) == 0 {
		return nil
	}
	return q
}
