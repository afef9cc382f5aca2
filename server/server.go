// Package server assembles realtimed: the PostgreSQL pools, the listener, the router, the
// Socket.IO server and the HTTP endpoints, with ordered startup and graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/admin"
	"github.com/realtimed/realtimed/adminui"
	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/listener"
	"github.com/realtimed/realtimed/metrics"
	"github.com/realtimed/realtimed/migrations"
	"github.com/realtimed/realtimed/recovery"
	"github.com/realtimed/realtimed/retention"
	"github.com/realtimed/realtimed/router"
	"github.com/realtimed/realtimed/socketio"
	"github.com/realtimed/realtimed/socketio/engineio"
	"github.com/realtimed/realtimed/walsource"
)

// Server is one realtimed node.
type Server struct {
	cfg      config.Config
	log      *logrus.Logger
	pool     *pgxpool.Pool // pools.main
	pools    *pools
	io       *socketio.Server
	listener *listener.Listener
	router   *router.Router
	metrics  *metrics.Metrics
	admin    *admin.API
	cluster  *cluster.Cluster
	auth     *authParts
	certs    *certFiles      // nil without TLS
	recovery *recovery.Store // nil when connection-state recovery is off
	fleet    *fleet          // nil without REALTIME_BUS
	pruner   *retention.Pruner
	wal      *walParts        // nil unless the wal source is configured or its slot is being retired
	adminUI  *adminui.UI      // nil unless REALTIME_ADMIN_UI
	adminIO  *socketio.Server // the Admin UI's own Socket.IO server on the internal address, or nil
	mux      *http.ServeMux
	// internalMux serves the operators' endpoints on REALTIME_INTERNAL_ADDR (nil without it).
	internalMux *http.ServeMux
	stopping    atomic.Bool
}

// New connects to the database and builds the node. Call Prepare, then Run.
func New(ctx context.Context, cfg config.Config, log *logrus.Logger) (*Server, error) {
	if err := cfg.RequireDatabase(); err != nil {
		return nil, err
	}
	pools, err := newPools(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	s, err := build(cfg, log, pools)
	if err != nil {
		pools.close()
		return nil, err
	}
	return s, nil
}

// build builds the node on its pools.
func build(cfg config.Config, log *logrus.Logger, pools *pools) (*Server, error) {
	pool := pools.main
	a, err := newAuth(cfg, pools.connect, log)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, pool: pool, pools: pools, auth: a}
	s.cluster, err = cluster.New(cluster.Config{Node: cluster.NewNodeID(), Addr: cfg.Addr, Pool: pool, Logger: log})
	if err != nil {
		return nil, err
	}
	s.metrics = metrics.New(metrics.Sources{
		Transports: func() map[string]int { return s.io.Engine().TransportCounts() },
		Pending:    func() int { return s.io.Engine().Pending() },
		Rooms:      func(f func(string, int)) { s.io.Of("/").EachRoom(f) },
		Listener:   nil, // set below, once the listener exists
		DB:         pools.health,
		Pools:      pools.byName,
	})
	if cfg.TLSCert != "" {
		if s.certs, err = newCertFiles(cfg.TLSCert, cfg.TLSKey, log); err != nil {
			return nil, &config.InvalidError{Err: err}
		}
	}
	s.io = socketio.NewServer(socketio.Options{
		Engine: engineio.Options{
			PingInterval:   cfg.PingInterval,
			PingTimeout:    cfg.PingTimeout,
			MaxPayload:     cfg.MaxPayload,
			MaxPending:     cfg.PreauthMaxConns,
			ReadTimeout:    cfg.ReadTimeout,
			SendQueueLimit: cfg.SendQueueBytes,
			CheckOrigin:    originChecker(cfg.CORSOrigins),
			OnWrite:        s.written,
			AllowRequest:   handshakeLimiter(cfg),
		},
		ConnectTimeout:    cfg.ConnectTimeout,
		PendingMaxPayload: cfg.PreauthMaxPayload,
		OnRead:            s.onRead(),
		Logger:            log,
	})
	ns := s.io.Of("/")
	s.router = router.New(ns, a.verifier, log, router.Hooks{
		Delivered:    s.delivered,
		AuthFailed:   s.metrics.AuthFailed,
		Disconnected: s.metrics.Disconnected,
	}, routerOptions(cfg)...)
	s.router.EnableCommands(router.Commands{
		Membership: router.NewMembership(pool, cfg.MembershipQuery),
		Control:    s.cluster,
		// The wal source draws positions after the commit (router.Commands.RecheckRemovals).
		RecheckRemovals: cfg.Source == walsource.SourceWAL,
		Limits: router.Limits{
			EventRate:     float64(cfg.ClientEventRate),
			MaxEventBytes: cfg.ClientEventMax,
			TypingRate:    float64(cfg.TypingRate),
			TypingTimeout: cfg.TypingTimeout,
		},
	})
	s.cluster.Handle(router.ControlTyping, s.router.HandleControl)
	s.listener, err = listener.New(listener.Config{
		Connect: cfg.DB.Connector(listener.ApplicationName), Logger: log, OnControl: s.cluster.Deliver,
		ControlOnly: cfg.Bus.URL != "", // fleet mode: the events come from the bus
	}, s.router.Deliver)
	if err != nil {
		return nil, err
	}
	s.metrics.SetListener(s.listener)
	if s.admin, err = admin.New(admin.Config{Token: cfg.AdminToken, Cluster: s.cluster, Namespace: ns, Logger: log}); err != nil {
		return nil, err
	}
	if cfg.RecoveryWindow > 0 {
		s.recovery, err = recovery.New(recovery.Config{
			Pool: pools.connect, Writes: pool, Node: s.cluster.Node(), Window: cfg.RecoveryWindow,
			NodeSilence: s.cluster.Silence(), Position: s.Position, Encode: s.router.Encode,
			Membership: s.router.Membership(), Admit: s.router.AdmitChat, Logger: log,
			AheadWindow: aheadWindow(cfg),
		})
		if err != nil {
			return nil, err
		}
		ns.SetRecovery(s.recovery)
		s.metrics.SetRecovery(func() metrics.RecoveryStats {
			st := s.recovery.Stats()
			return metrics.RecoveryStats{Recovered: st.Recovered, NotRecovered: st.NotRecovered,
				RetryLater: st.RetryLater, Overloaded: st.Overloaded, Waiting: st.Waiting, WaitingAhead: st.WaitingAhead}
		})
	}
	s.pruner = retention.New(retention.Config{Pool: pool, Retention: cfg.Retention, RecoveryWindow: cfg.RecoveryWindow,
		NodeSilence: s.cluster.Silence(), Logger: log})
	if err := s.setupAdminUI(); err != nil {
		return nil, err
	}
	// Last: nothing after it fails, so the NATS connection it opens is never left behind.
	if cfg.Bus.URL != "" {
		if s.fleet, err = s.newFleet(); err != nil {
			return nil, err
		}
		ns.SetInterest(s.fleet.sub)
		s.metrics.SetBus(s.fleet.stats, s.fleet.sub.Position)
	}
	s.routes()
	return s, nil
}

// originChecker allows the server's own origin and the configured ones ("*": any).
func originChecker(allowed []string) func(string, *http.Request) bool {
	any := slices.Contains(allowed, "*")
	return func(origin string, r *http.Request) bool {
		return any || slices.Contains(allowed, origin) || engineio.SameOrigin(origin, r)
	}
}

// Handler returns the node's HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Listener returns the node's listener (for readiness and tests).
func (s *Server) Listener() *listener.Listener { return s.listener }

// Position returns the stream position the node delivered through: the listener's, or in
// fleet mode the bus subscriber's.
func (s *Server) Position() int64 {
	if s.fleet != nil {
		return s.fleet.sub.Position()
	}
	return s.listener.Position()
}

// Node returns the node's id in the cluster (realtime.nodes).
func (s *Server) Node() string { return s.cluster.Node() }

// Metrics returns the node's metrics.
func (s *Server) Metrics() *metrics.Metrics { return s.metrics }

// SocketIO returns the node's Socket.IO server.
func (s *Server) SocketIO() *socketio.Server { return s.io }

// Pools returns the node's connection pools by name (application_name).
func (s *Server) Pools() map[string]*pgxpool.Pool { return s.pools.byName() }

// Cluster returns the node's membership in the cluster.
func (s *Server) Cluster() *cluster.Cluster { return s.cluster }

// Pruner returns the node's retention pruner.
func (s *Server) Pruner() *retention.Pruner { return s.pruner }

// Recovery returns the node's recovery store (nil when connection-state recovery is off).
func (s *Server) Recovery() *recovery.Store { return s.recovery }

// Prepare applies pending migrations and the rule files, as configured, and writes the
// settings realtime.publish reads (the maximum event size, the source: REALTIME_SOURCE).
func (s *Server) Prepare(ctx context.Context) error {
	if s.cfg.Source == walsource.SourceWAL {
		// Before anything else: one line naming what the wal source lacks, exit status 2.
		if err := walsource.Preflight(ctx, s.pool); err != nil {
			return &config.InvalidError{Err: err}
		}
	}
	if s.cfg.AutoMigrate {
		if err := migrations.UpReporting(s.cfg.DatabaseURL, s.logMigration, migrations.Sets(s.cfg.ReferenceSchema)...); err != nil {
			return err
		}
	}
	if err := s.auth.checkSessions(ctx, s.log); err != nil {
		return err
	}
	if err := s.checkSchema(ctx); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO realtime.settings (key, value) VALUES ('max_event_bytes', $1)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, strconv.Itoa(s.cfg.MaxEventBytes)); err != nil {
		return fmt.Errorf("writing realtime.settings (is the realtime schema migrated?): %w", err)
	}
	if s.cfg.MaxEventBytes > s.cfg.SendQueueBytes/2 {
		s.log.WithFields(logrus.Fields{"max_event_bytes": s.cfg.MaxEventBytes, "send_queue_bytes": s.cfg.SendQueueBytes}).
			Warn("REALTIME_MAX_EVENT_BYTES is over half of REALTIME_SEND_QUEUE_BYTES: an event that large disconnects its receivers as slow consumers and cannot be replayed by a recovery")
	}
	if err := s.prepareSource(ctx); err != nil {
		return err
	}
	if !s.cfg.ApplyTriggers {
		return nil
	}
	return s.applyRules(ctx)
}

// checkSchema fails clearly when the realtime schema lacks what delivery needs. Migrations are
// numbered in ranges by feature, and golang-migrate only goes up from a database's version: a
// database migrated past version 10 before migration 0010 existed never gets it by itself.
func (s *Server) checkSchema(ctx context.Context) error {
	var missing bool
	err := s.pool.QueryRow(ctx, `SELECT to_regclass('realtime.sessions') IS NULL
		OR to_regprocedure('realtime.prune_sessions(interval, interval)') IS NULL`).Scan(&missing)
	if err != nil {
		return fmt.Errorf("checking the realtime schema (is it migrated?): %w", err)
	}
	if missing {
		return errors.New("the realtime schema lacks migration 0010 (recovery sessions, retention): the database was " +
			"migrated past version 10 before 0010 existed, and migrations only go up from the current version. " +
			`Apply it once: psql "$DATABASE_URL" -f migrations/realtime/0010_delivery.up.sql (or recreate the database)`)
	}
	return nil
}

// Run serves on the configured address until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is done, then shuts down gracefully: new connections are
// refused, every client is closed so that it reconnects (to another node if there is one), and
// the listener stops, all within the shutdown timeout.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.pools.close()
	var internalLn net.Listener
	if s.cfg.InternalAddr != "" {
		var err error
		if internalLn, err = net.Listen("tcp", s.cfg.InternalAddr); err != nil {
			return fmt.Errorf("listening on %s (REALTIME_INTERNAL_ADDR): %w", s.cfg.InternalAddr, err)
		}
	}
	lctx, stopListener := context.WithCancel(context.Background())
	listenerDone := make(chan struct{})
	go func() {
		defer close(listenerDone)
		_ = s.listener.Run(lctx)
	}()
	cctx, stopCluster := context.WithCancel(context.Background())
	clusterDone := make(chan struct{})
	go func() {
		defer close(clusterDone)
		s.cluster.Run(cctx)
	}()
	// The node's row in realtime.nodes before any client connects: recovery sessions name it.
	if err := s.cluster.Announce(ctx); err != nil {
		s.log.WithError(err).Warn("announcing the node failed; Run retries")
	}
	rctx, stopRecovery := context.WithCancel(context.Background())
	recoveryDone := make(chan struct{})
	go func() {
		defer close(recoveryDone)
		if s.recovery != nil {
			s.recovery.Run(rctx)
		}
	}()
	fleetDone := make(chan struct{})
	go func() {
		defer close(fleetDone)
		if s.fleet != nil {
			s.fleet.run(lctx)
		}
	}()
	prunerDone := make(chan struct{})
	go func() {
		defer close(prunerDone)
		s.pruner.Run(lctx)
	}()
	walDone := make(chan struct{})
	go func() {
		defer close(walDone)
		if s.wal != nil {
			s.wal.run(lctx)
		}
	}()
	if s.auth.jwks != nil {
		go s.fetchJWKS(lctx)
	}
	uiDone := make(chan struct{})
	go func() {
		defer close(uiDone)
		if s.adminUI != nil {
			s.adminUI.Run(lctx)
		}
	}()
	scheme := "http"
	if s.certs != nil {
		ln, scheme = tls.NewListener(ln, s.certs.tlsConfig()), "https"
	}
	handshakeTimeout := s.cfg.HandshakeTimeout
	if handshakeTimeout <= 0 {
		handshakeTimeout = 10 * time.Second
	}
	// ReadHeaderTimeout also bounds the TLS handshake (net/http uses it for both).
	newHTTP := func(h http.Handler) *http.Server {
		return &http.Server{Handler: h, ReadHeaderTimeout: handshakeTimeout, ErrorLog: stdlog.New(httpErrorLog{s.log}, "", 0)}
	}
	public := newHTTP(s.mux)
	servers := []*http.Server{public}
	serveErr := make(chan error, 2)
	go func() { serveErr <- public.Serve(ln) }()
	s.log.WithFields(logrus.Fields{"addr": ln.Addr().String(), "scheme": scheme, "node": s.cluster.Node()}).Info("realtimed serving")
	if internalLn != nil {
		internal := newHTTP(s.internalMux)
		servers = append(servers, internal)
		go func() { serveErr <- internal.Serve(internalLn) }()
		s.log.WithFields(logrus.Fields{"addr": internalLn.Addr().String(), "scheme": "http"}).
			Info("serving the operators' endpoints (metrics, admin API, Admin UI) on the internal address")
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("http server: %w", err)
	}
	s.shutdown(servers)
	// The sessions' disconnections are stored before the node leaves the cluster: once its row
	// is gone, the window of its sessions that still look connected is over.
	stopRecovery()
	<-recoveryDone
	stopListener()
	stopCluster()
	<-listenerDone
	<-fleetDone
	<-clusterDone
	<-prunerDone
	<-walDone
	<-uiDone
	return err
}

// fetchJWKS loads the key set at startup; a failure is logged and retried on demand.
func (s *Server) fetchJWKS(ctx context.Context) {
	_ = s.auth.jwks.Refresh(ctx)
}

func (s *Server) shutdown(servers []*http.Server) {
	s.stopping.Store(true)
	s.log.WithField("timeout", s.cfg.ShutdownTimeout.String()).Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, httpSrv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := httpSrv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				s.log.WithError(err).Warn("http shutdown")
			}
		}()
	}
	if s.adminIO != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.adminIO.Shutdown(ctx)
		}()
	}
	s.io.Shutdown(ctx)
	wg.Wait()
	for _, httpSrv := range servers {
		_ = httpSrv.Close()
	}
	s.log.Info("shut down")
}
