package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// healthz answers while the process is alive.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}

// readyz answers 200 when the node can deliver events: not shutting down, the database
// reachable, the listener connected and caught up with the outbox, with the wal source the
// stream advancing (walsource.Monitor), and in fleet mode the bus subscriber started and
// connected to NATS.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]bool{
		"serving":  !s.stopping.Load(),
		"database": s.pools.health.Ping(ctx) == nil,
		"listener": s.listener.Ready(),
	}
	if s.wal != nil {
		// wal source: the slot exists, is valid and advances when WAL waits in it.
		checks["stream"] = s.wal.ready()
	}
	if s.fleet != nil {
		checks["bus"] = s.fleet.sub.Ready()
	}
	status := http.StatusOK
	for _, ok := range checks {
		if !ok {
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks, "position": s.Position()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
