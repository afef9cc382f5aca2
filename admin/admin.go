// Package admin is realtimed's token-protected introspection API, the seed's "Debugging"
// section as HTTP: connected sockets (count, by transport), one user's devices, disconnecting
// a user, and the nodes of the cluster. Answers are cluster-wide: the node that receives a
// request asks the others (cluster.Ask) and answers theirs (cluster.Serve).
package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/cluster"
	"github.com/realtimed/realtimed/socketio"
)

// Config configures the admin API.
type Config struct {
	// Token is the bearer token requests must present. Empty disables the HTTP API (404);
	// the node still answers the other nodes' requests.
	Token string
	// Cluster is this node's membership in the cluster. Required.
	Cluster *cluster.Cluster
	// Namespace holds the sockets ("/"). Required.
	Namespace *socketio.Namespace
	// Logger receives refused requests and cluster errors. Nil means logrus' standard logger.
	Logger logrus.FieldLogger
}

// Operations a node answers for the others.
const (
	opSockets    = "admin.sockets"
	opDevices    = "admin.devices"
	opDisconnect = "admin.disconnect"
)

// userArgs are the arguments of the operations about one user.
type userArgs struct {
	User string `json:"user"`
}

// API serves /admin/ and answers other nodes' requests.
type API struct {
	tokenHash [sha256.Size]byte
	enabled   bool
	local     local
	cluster   *cluster.Cluster
	log       logrus.FieldLogger
	mux       *http.ServeMux
}

// New returns the API and makes the node answer the other nodes' admin requests.
func New(cfg Config) (*API, error) {
	if cfg.Cluster == nil || cfg.Namespace == nil {
		return nil, errors.New("admin: Config.Cluster and Config.Namespace are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = logrus.StandardLogger()
	}
	a := &API{
		tokenHash: sha256.Sum256([]byte(cfg.Token)),
		enabled:   cfg.Token != "",
		local:     local{node: cfg.Cluster.Node(), ns: cfg.Namespace},
		cluster:   cfg.Cluster,
		log:       cfg.Logger,
		mux:       http.NewServeMux(),
	}
	a.mux.HandleFunc("GET /admin/sockets", a.sockets)
	a.mux.HandleFunc("GET /admin/users/{id}/sockets", a.devices)
	a.mux.HandleFunc("POST /admin/users/{id}/disconnect", a.disconnect)
	a.mux.HandleFunc("GET /admin/nodes", a.nodes)
	a.serve()
	return a, nil
}

// serve answers the other nodes' requests.
func (a *API) serve() {
	a.cluster.Serve(opSockets, func([]byte) (any, error) { return a.local.summary(), nil })
	a.cluster.Serve(opDevices, func(args []byte) (any, error) {
		u, err := decodeUser(args)
		if err != nil {
			return nil, err
		}
		return a.local.devices(u), nil
	})
	a.cluster.Serve(opDisconnect, func(args []byte) (any, error) {
		u, err := decodeUser(args)
		if err != nil {
			return nil, err
		}
		d := a.local.disconnect(u)
		a.log.WithFields(logrus.Fields{"user": u, "disconnected": d.Disconnected}).Info("admin: user disconnected (asked by another node)")
		return d, nil
	})
}

// decodeUser reads the user of a request from another node.
func decodeUser(args []byte) (string, error) {
	var u userArgs
	if err := json.Unmarshal(args, &u); err != nil || u.User == "" {
		return "", fmt.Errorf("%w: the request names no user", cluster.ErrBadRequest)
	}
	return u.User, nil
}

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
	replies, err := a.cluster.Ask(r.Context(), opSockets, nil)
	if err != nil {
		a.fail(w, err)
		return
	}
	out := SocketsReply{ByTransport: map[string]int{"polling": 0, "websocket": 0}, Missing: replies.Missing}
	out.Nodes = append(out.Nodes, a.local.summary())
	for node, body := range replies.ByNode {
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
	replies, err := a.cluster.Ask(r.Context(), opDevices, userArgs{user})
	if err != nil {
		a.fail(w, err)
		return
	}
	out := DevicesReply{UserID: user, Devices: a.local.devices(user), Missing: replies.Missing}
	for node, body := range replies.ByNode {
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
	replies, err := a.cluster.Ask(r.Context(), opDisconnect, userArgs{user})
	if err != nil {
		a.fail(w, err)
		return
	}
	out.Missing = replies.Missing
	for node, body := range replies.ByNode {
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
	nodes, err := a.cluster.Nodes(r.Context())
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
