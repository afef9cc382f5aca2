package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/realtimed/realtimed/adminui"
	"github.com/realtimed/realtimed/demo"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
	"github.com/realtimed/realtimed/socketio/engineio"
	"github.com/realtimed/realtimed/web"
)

// The operators' endpoints — metrics, the admin API and the Socket.IO Admin UI — are served
// on REALTIME_ADDR with everything else, or, with REALTIME_INTERNAL_ADDR, on that address
// only (plain HTTP, for a network the clients cannot reach). The Admin UI belongs with them:
// it shows every socket's address and user and can disconnect them, so it should be as hard
// to reach as the admin API; on an internal address, its login cannot even be tried from the
// internet. There the UI connects to a Socket.IO server of its own, which serves only the
// admin namespace; the application's clients never reach it.

// setupAdminUI sets up the Admin UI's server side when it is enabled.
func (s *Server) setupAdminUI() error {
	if !s.cfg.AdminUI.Enabled {
		return nil
	}
	host := s.io
	if s.cfg.InternalAddr != "" {
		s.adminIO = socketio.NewServer(socketio.Options{
			Engine: engineio.Options{
				PingInterval: s.cfg.PingInterval, PingTimeout: s.cfg.PingTimeout,
				CheckOrigin: originChecker(s.cfg.CORSOrigins), AllowRequest: handshakeLimiter(s.cfg),
			},
			ConnectTimeout: s.cfg.ConnectTimeout,
			Logger:         s.log,
		})
		host = s.adminIO
	}
	ui, err := adminui.New(adminui.Config{
		Username: s.cfg.AdminUI.Username, Password: s.cfg.AdminUI.Password, ReadOnly: s.cfg.AdminUI.ReadOnly,
		MaxSockets: s.cfg.AdminUI.MaxSockets, App: s.io, Admin: host, Cluster: s.cluster,
		Describe: describeSocket, Leaver: s.router, Logger: s.log,
	})
	if err != nil {
		return err
	}
	s.adminUI = ui
	return nil
}

// describeSocket is what the Admin UI shows as a socket's data.
func describeSocket(sock *socketio.Socket) any {
	c := router.ClientOf(sock)
	if c == nil {
		return nil
	}
	return map[string]any{"userId": c.UserID, "auth": c.Method}
}

// routes registers the HTTP endpoints.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.Handle("/socket.io/", s.io)
	ops := s.mux
	if s.cfg.InternalAddr != "" {
		s.internalMux = http.NewServeMux()
		ops = s.internalMux
		ops.HandleFunc("GET /healthz", s.healthz)
		ops.HandleFunc("GET /readyz", s.readyz)
	}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	ops.Handle("GET /metrics", s.metrics.Handler())
	ops.Handle("/admin/", s.admin)
	if s.adminUI != nil {
		ops.Handle(adminui.Path, adminui.Handler())
		ops.Handle("GET "+adminui.Path[:len(adminui.Path)-1], http.RedirectHandler(adminui.Path, http.StatusMovedPermanently))
		if s.adminIO != nil {
			ops.Handle("/socket.io/", s.adminIO)
		}
	}
	if s.cfg.Console {
		s.mux.Handle("/", web.Handler(web.Config{
			Demo: s.cfg.Demo, Verifier: s.auth.verifier, Membership: s.router.Membership(), DB: s.pool, Logger: s.log,
		}))
	}
	if s.cfg.Demo {
		s.mux.Handle("/demo/", demo.Handler(s.pool, []byte(s.cfg.JWTSecret), s.log))
	}
}

// written observes every batch of messages written to a client (engineio.Options.OnWrite).
func (s *Server) written(msgs []*engineio.Message, at time.Time) {
	s.metrics.Written(msgs, at)
	if s.adminUI != nil {
		s.adminUI.Written(msgs)
	}
}

// delivered observes every event the router delivered (router.Hooks.Delivered).
func (s *Server) delivered(env *listener.Envelope, sockets int) {
	s.metrics.Delivered(env, sockets)
	if s.adminUI == nil || sockets == 0 || !s.adminUI.Watched() {
		return
	}
	rooms := make([]string, 0, len(env.Users)+len(env.Rooms))
	for _, u := range env.Users {
		rooms = append(rooms, router.UserRoom(u))
	}
	offset, _ := json.Marshal(strconv.FormatInt(env.Pos, 10))
	s.adminUI.Sent("/", append(rooms, env.Rooms...), env.Event, env.Payload, offset)
}

// onRead is socketio.Options.OnRead: nil unless the Admin UI counts the clients' messages.
func (s *Server) onRead() func(int) {
	if !s.cfg.AdminUI.Enabled {
		return nil
	}
	return func(n int) { s.adminUI.Read(n) }
}
