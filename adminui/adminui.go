// Package adminui is realtimed's server side of the official Socket.IO Admin UI (npm
// @socket.io/admin-ui, https://socket.io/docs/v4/admin-ui/), as instrument() is in Node: the
// "/admin" namespace with its username/password login, the events the UI expects (config,
// session, server_stats, all_sockets, socket_connected/updated/disconnected,
// room_joined/left, event_received, event_sent) and the actions it sends (_disconnect, leave), for every
// node of the cluster, so that the UI lists each node as a server with its sockets and rooms.
// It also serves the UI's own files, vendored from npm.
//
// Across nodes (through PostgreSQL, package cluster): a node with a UI connected publishes a
// watch message every few seconds; every node that receives one is watched for a while (a
// lease) and, while it is, publishes a report four times a second at most: its server_stats
// every 2s, and the changes of the sockets it shows. A node shows at most MaxSockets of its
// sockets in detail (the counts in server_stats are always complete), and publishes at most
// 64 KB/s of changes: when it has more, it drops them and says so, and the UIs fetch the
// sockets of every node again (all_sockets, through cluster requests, at most every few
// seconds). While no UI is connected anywhere, nothing is published and the hooks on the
// socket path cost one atomic load.
package adminui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/socketio"
	"github.com/realtimed/realtimed/socketio/engineio"
)

// UIVersion is the version of @socket.io/admin-ui whose built files (ui/dist, without source
// maps) are vendored in static/; scripts/vendor-admin-ui.sh refreshes both from npm, at the
// version e2e/package-lock.json pins.
const UIVersion = "0.5.1"

// NamespaceName is the namespace the UI connects to (its default).
const NamespaceName = "/admin"

// Path is where the UI's files are served.
const Path = "/admin-ui/"

// DefaultMaxSockets is how many of its sockets a node shows in detail by default.
const DefaultMaxSockets = 1000

// Control messages and cluster operations.
const (
	msgWatch  = "adminui.watch"
	msgReport = "adminui.report"
	msgAction = "adminui.action"
	opSockets = "adminui.sockets"
)

// lease is how long a watch message keeps a node watched; watchEvery is how often a node with
// a UI connected sends one.
const (
	lease      = 15 * time.Second
	watchEvery = 5 * time.Second
)

//go:embed static
var static embed.FS

// Config configures the Admin UI's server side.
type Config struct {
	// Username and Password are what the UI's login form must be given. Password is the
	// password in clear or its bcrypt hash ($2a$…, $2b$…, $2y$…), as instrument() takes.
	// Both required.
	Username, Password string
	// ReadOnly refuses every action (the UI's buttons are greyed out).
	ReadOnly bool
	// MaxSockets is how many of its sockets this node shows in detail. Zero means
	// DefaultMaxSockets.
	MaxSockets int
	// App is the application's Socket.IO server, whose sockets are shown. Required.
	App *socketio.Server
	// Namespaces are App's namespaces shown. Empty means "/".
	Namespaces []string
	// Admin is the server on which the UI connects to NamespaceName: App, or a server of its
	// own (on an internal address). Nil means App.
	Admin *socketio.Server
	// Cluster carries the reports and actions between nodes. Required.
	Cluster *cluster.Cluster
	// Describe returns what the UI shows as a socket's data (the user it belongs to). Nil:
	// nothing.
	Describe func(*socketio.Socket) any
	// Leaver lets the UI take sockets out of some rooms. Nil: leave is not supported.
	Leaver Leaver
	// Logger receives logins, actions and failures (never the credentials). Nil means
	// logrus' standard logger.
	Logger logrus.FieldLogger
}

// UI is the Admin UI's server side on this node.
type UI struct {
	cfg      Config
	log      logrus.FieldLogger
	creds    *credentials
	reporter *reporter
	hub      *hub
	lease    time.Duration
}

// New sets up the admin namespace on cfg.Admin, observes cfg.App's namespaces, and registers
// the cluster's handlers. Call it before clients connect, and Run it.
func New(cfg Config) (*UI, error) {
	if cfg.App == nil || cfg.Cluster == nil {
		return nil, errors.New("adminui: Config.App and Config.Cluster are required")
	}
	creds, err := newCredentials(cfg.Username, cfg.Password)
	if err != nil {
		return nil, err
	}
	if cfg.Admin == nil {
		cfg.Admin = cfg.App
	}
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = []string{"/"}
	}
	if cfg.MaxSockets <= 0 {
		cfg.MaxSockets = DefaultMaxSockets
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	ui := &UI{cfg: cfg, log: cfg.Logger, creds: creds, lease: lease}
	var shown []*socketio.Namespace
	for _, name := range cfg.Namespaces {
		shown = append(shown, cfg.App.Of(name))
	}
	ui.reporter = newReporter(cfg.Cluster.Node(), cfg.App, shown, cfg.Describe, cfg.Cluster.Publish, cfg.MaxSockets)
	for _, ns := range shown {
		ns.Observe(ui.reporter)
	}
	admin := cfg.Admin.Of(NamespaceName)
	ui.hub = newHub(ui, admin)
	admin.Use(ui.authenticate)
	admin.OnConnection(ui.onConnection)
	admin.OnDisconnect(func(s *socketio.Socket, _ socketio.DisconnectReason) { ui.hub.remove(s) })
	ui.registerActions(admin)
	cfg.Cluster.Handle(msgWatch, func([]byte) { ui.reporter.watch(time.Now().Add(ui.lease)) })
	cfg.Cluster.Handle(msgReport, ui.hub.onReport)
	cfg.Cluster.Handle(msgAction, ui.onAction)
	cfg.Cluster.Serve(opSockets, func([]byte) (any, error) { return ui.reporter.snapshot(ui.lease), nil })
	return ui, nil
}

// Run publishes this node's reports while it is watched, and keeps the other nodes watched
// while a UI is connected here, until ctx is done.
func (ui *UI) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ui.reporter.run(ctx.Done())
	}()
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			if ui.hub.count() > 0 {
				ui.publishWatch()
			}
		}
	}
}

// publishWatch keeps every node (this one too) watched for another lease.
func (ui *UI) publishWatch() {
	ui.reporter.watch(time.Now().Add(ui.lease))
	b, _ := json.Marshal(map[string]string{"type": msgWatch, "node": ui.cfg.Cluster.Node()})
	ui.cfg.Cluster.Publish(b)
}

// Watched reports whether some UI watches this node: callers skip the work of a Sent call
// when it does not.
func (ui *UI) Watched() bool { return ui.reporter.active.Load() }

// Sent reports an event delivered to rooms of App's namespace nsp (the Events page's
// event_sent, for the sockets this node shows): its name and arguments as the clients get
// them.
func (ui *UI) Sent(nsp string, rooms []string, event string, args ...json.RawMessage) {
	ui.reporter.sent(nsp, rooms, event, args)
}

// Read counts a message a client of App sent (socketio.Options.OnRead).
func (ui *UI) Read(size int) { ui.reporter.read(size) }

// Written counts messages written to App's clients (engineio.Options.OnWrite).
func (ui *UI) Written(msgs []*engineio.Message) { ui.reporter.written(msgs) }

// login is what the admin namespace keeps on a UI's socket.
type login struct {
	session string // a new session id, sent after a login with the password
}

// authenticate is the admin namespace's middleware: a session id this configuration issued,
// or the username and password.
func (ui *UI) authenticate(s *socketio.Socket) error {
	var a struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		SessionID string `json:"sessionId"`
	}
	_ = json.Unmarshal(s.Auth(), &a)
	now := time.Now()
	if a.SessionID != "" && ui.creds.validSession(a.SessionID, now) {
		s.Data = &login{}
		return nil
	}
	if a.Username != "" || a.Password != "" {
		ok, err := ui.creds.check(context.Background(), a.Username, a.Password)
		if errors.Is(err, ErrBusy) {
			ui.log.WithField("remote", s.Conn().RemoteAddr()).Warn("admin ui: login refused: too many at once")
			return &socketio.ConnectError{Message: err.Error()}
		}
		if ok {
			s.Data = &login{session: ui.creds.newSession(now)}
			return nil
		}
	}
	ui.log.WithField("remote", s.Conn().RemoteAddr()).Info("admin ui: login refused (invalid credentials)")
	return &socketio.ConnectError{Message: "invalid credentials"}
}

// onConnection greets a UI as instrument() does (session, config), then gets it its sockets.
func (ui *UI) onConnection(s *socketio.Socket) {
	if l, _ := s.Data.(*login); l != nil && l.session != "" {
		_ = s.Emit("session", l.session)
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": ui.features()})
	ui.log.WithFields(logrus.Fields{"remote": s.Conn().RemoteAddr(), "sid": s.ID()}).Info("admin ui: connected")
	ui.hub.add(s)
}

// Handler serves the UI's files under Path.
func Handler() http.Handler {
	files, _ := fs.Sub(static, "static")
	fileServer := http.StripPrefix(Path, http.FileServerFS(files))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Path {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, files, "index.html")
			return
		}
		// The other files are named by their content's hash.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		fileServer.ServeHTTP(w, r)
	})
}
