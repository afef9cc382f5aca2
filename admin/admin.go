// Package admin is realtimed's token-protected introspection API, the seed's "Debugging"
// section as HTTP: connected sockets (count, by transport), one user's devices, disconnecting
// a user, and the nodes of the cluster. Answers are cluster-wide: nodes announce themselves in
// realtime.nodes, and the node that receives a request asks the others through PostgreSQL
// (NOTIFY on realtime_control, replies in realtime.node_replies), so no extra broker or
// node-to-node network path is needed.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio"
)

// Config configures the admin API.
type Config struct {
	// Token is the bearer token requests must present. Empty disables the API (404).
	Token string
	// Node is this node's id (NewNodeID) and Addr its listen address, as shown in realtime.nodes.
	Node, Addr string
	// Namespace holds the sockets ("/").
	Namespace *socketio.Namespace
	// DB is the pool used for the node registry and the request/reply exchange.
	DB *pgxpool.Pool
	// Logger receives refused requests and cluster errors.
	Logger logrus.FieldLogger
	// Heartbeat is how often the node refreshes its row (zero: 10s); a node not seen for three
	// heartbeats is left out. Wait bounds how long a request waits for the other nodes (zero: 3s).
	Heartbeat, Wait time.Duration
}

// API serves /admin/ and answers other nodes' requests.
type API struct {
	tokenHash [sha256.Size]byte
	enabled   bool
	local     local
	cluster   *cluster
	log       logrus.FieldLogger
	mux       *http.ServeMux
}

// New returns the API. Call Run to announce the node, and route control messages of type
// ControlType to OnControl.
func New(cfg Config) *API {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 10 * time.Second
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	a := &API{
		tokenHash: sha256.Sum256([]byte(cfg.Token)),
		enabled:   cfg.Token != "",
		local:     local{node: cfg.Node, ns: cfg.Namespace},
		cluster: &cluster{node: cfg.Node, addr: cfg.Addr, db: cfg.DB, log: cfg.Logger,
			heartbeat: cfg.Heartbeat, stale: 3 * cfg.Heartbeat, wait: cfg.Wait},
		log: cfg.Logger,
		mux: http.NewServeMux(),
	}
	a.mux.HandleFunc("GET /admin/sockets", a.sockets)
	a.mux.HandleFunc("GET /admin/users/{id}/sockets", a.devices)
	a.mux.HandleFunc("POST /admin/users/{id}/disconnect", a.disconnect)
	a.mux.HandleFunc("GET /admin/nodes", a.nodes)
	return a
}

// Run announces the node in realtime.nodes and keeps it announced until ctx is done. Every
// node runs it, with or without a token: any node may be asked by another.
func (a *API) Run(ctx context.Context) { a.cluster.run(ctx) }

// Announce inserts or refreshes the node's row in realtime.nodes once (Run keeps it fresh):
// recovery sessions name the node, so it is announced before clients connect.
func (a *API) Announce(ctx context.Context) error { return a.cluster.announce(ctx) }

// Silence is how long a node may go without refreshing its row before it counts as gone.
func (a *API) Silence() time.Duration { return a.cluster.stale }

// ServeHTTP serves /admin/… to requests bearing the token.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.enabled {
		http.NotFound(w, r)
		return
	}
	if !a.authorized(r) {
		a.log.WithFields(logrus.Fields{"remote": r.RemoteAddr, "path": r.URL.Path}).Info("admin: unauthorized request refused")
		w.Header().Set("WWW-Authenticate", `Bearer realm="realtimed admin"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized"})
		return
	}
	a.mux.ServeHTTP(w, r)
}

// authorized compares the bearer token in constant time (hashes of equal length).
func (a *API) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], a.tokenHash[:]) == 1
}

// SocketsReply is the answer of GET /admin/sockets.
type SocketsReply struct {
	Count       int            `json:"count"`
	ByTransport map[string]int `json:"byTransport"`
	Nodes       []Summary      `json:"nodes"`
	Missing     []string       `json:"missing,omitempty"` // nodes that did not answer in time
}

func (a *API) sockets(w http.ResponseWriter, r *http.Request) {
	replies, missing, err := a.cluster.ask(r.Context(), opSockets, "")
	if err != nil {
		a.fail(w, err)
		return
	}
	out := SocketsReply{ByTransport: map[string]int{"polling": 0, "websocket": 0}, Missing: missing}
	out.Nodes = append(out.Nodes, a.local.summary())
	for node, body := range replies {
		var s Summary
		if err := json.Unmarshal(body, &s); err != nil {
			a.log.WithError(err).WithField("node", node).Warn("admin: bad reply")
			out.Missing = append(out.Missing, node)
			continue
		}
		out.Nodes = append(out.Nodes, s)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	for _, s := range out.Nodes {
		out.Count += s.Count
		for t, n := range s.ByTransport {
			out.ByTransport[t] += n
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// DevicesReply is the answer of GET /admin/users/{id}/sockets.
type DevicesReply struct {
	UserID  string   `json:"userId"`
	Count   int      `json:"count"`
	Devices []Device `json:"devices"`
	Missing []string `json:"missing,omitempty"`
}

func (a *API) devices(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("id")
	replies, missing, err := a.cluster.ask(r.Context(), opDevices, user)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := DevicesReply{UserID: user, Devices: a.local.devices(user), Missing: missing}
	for node, body := range replies {
		var ds []Device
		if err := json.Unmarshal(body, &ds); err != nil {
			a.log.WithError(err).WithField("node", node).Warn("admin: bad reply")
			out.Missing = append(out.Missing, node)
			continue
		}
		out.Devices = append(out.Devices, ds...)
	}
	sort.Slice(out.Devices, func(i, j int) bool { return out.Devices[i].ConnectedAt.Before(out.Devices[j].ConnectedAt) })
	out.Count = len(out.Devices)
	writeJSON(w, http.StatusOK, out)
}

// DisconnectReply is the answer of POST /admin/users/{id}/disconnect.
type DisconnectReply struct {
	UserID       string         `json:"userId"`
	Disconnected int            `json:"disconnected"`
	Nodes        []Disconnected `json:"nodes"`
	Missing      []string       `json:"missing,omitempty"`
}

func (a *API) disconnect(w http.ResponseWriter, r *http.Request) {
	user := r.PathValue("id")
	out := DisconnectReply{UserID: user, Nodes: []Disconnected{a.local.disconnect(user)}}
	replies, missing, err := a.cluster.ask(r.Context(), opDisconnect, user)
	if err != nil {
		a.fail(w, err)
		return
	}
	out.Missing = missing
	for node, body := range replies {
		var d Disconnected
		if err := json.Unmarshal(body, &d); err != nil {
			a.log.WithError(err).WithField("node", node).Warn("admin: bad reply")
			out.Missing = append(out.Missing, node)
			continue
		}
		out.Nodes = append(out.Nodes, d)
	}
	sort.Slice(out.Nodes, func(i, j int) bool { return out.Nodes[i].Node < out.Nodes[j].Node })
	for _, d := range out.Nodes {
		out.Disconnected += d.Disconnected
	}
	a.log.WithFields(logrus.Fields{"user": user, "disconnected": out.Disconnected}).Info("admin: user disconnected")
	writeJSON(w, http.StatusOK, out)
}

func (a *API) nodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := a.cluster.liveNodes(r.Context())
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"self": a.local.node, "nodes": nodes})
}

func (a *API) fail(w http.ResponseWriter, err error) {
	a.log.WithError(err).Warn("admin: request failed")
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
}

// OnControl handles a control message of type ControlType from another node: it answers in
// the background, so the listener's goroutine never waits. Requests from this node itself
// and malformed ones are ignored (the latter logged).
func (a *API) OnControl(payload []byte) {
	req, err := decodeRequest(payload)
	if err != nil {
		a.log.WithError(err).Warn("admin: ignored a control message")
		return
	}
	if req.From == a.local.node {
		return
	}
	go a.answer(req)
}

func (a *API) answer(req request) {
	var body any
	switch req.Op {
	case opSockets:
		body = a.local.summary()
	case opDevices:
		body = a.local.devices(req.User)
	case opDisconnect:
		d := a.local.disconnect(req.User)
		a.log.WithFields(logrus.Fields{"user": req.User, "disconnected": d.Disconnected, "asked_by": req.From}).
			Info("admin: user disconnected")
		body = d
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.cluster.reply(ctx, req.Request, body); err != nil {
		a.log.WithError(err).Warn("admin: answering another node")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
