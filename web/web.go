// Package web serves the live console at "/": a page that connects to realtimed with the
// official socket.io-client browser bundle (vendored from npm, served from the binary), shows
// the stream of events with their rooms and time since commit, joins chat rooms and shows
// typing indicators. In demo mode it also lists the demo family (see package demo).
package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/router"
)

//go:embed static
var static embed.FS

// ClientVersion is the version of the vendored socket.io-client bundle
// (static/vendor/socket.io.min.js); scripts/vendor-socketio.sh refreshes both from npm.
const ClientVersion = "4.8.4"

// Config configures the console.
type Config struct {
	// Demo shows the demo family on the page (the /demo/ endpoints are served by package demo).
	Demo bool
	// Verifier authenticates the console's requests for event details (the socket's token).
	Verifier *auth.Verifier
	// Membership decides whether a user may see an event sent to a chat room.
	Membership *router.Membership
	// DB reads event details from the outbox.
	DB *pgxpool.Pool
	// Logger receives failures.
	Logger logrus.FieldLogger
}

// Handler serves "/" (the page), "/favicon.ico", "/console/…" (its files and the vendored
// client bundle) and "/console/api/…" (settings and event details).
func Handler(cfg Config) http.Handler {
	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, "index.html")
	}
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/x-icon")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		http.ServeFileFS(w, r, files, "favicon.ico")
	})
	mux.Handle("GET /console/", http.StripPrefix("/console/", http.FileServerFS(files)))
	mux.HandleFunc("GET /console/api/settings", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"demo": cfg.Demo, "clientVersion": ClientVersion})
	})
	mux.Handle("GET /console/api/events/{pos}", &eventDetails{cfg: cfg})
	return mux
}

// EventDetails is what the console shows about an event besides its name and payload.
type EventDetails struct {
	Pos         int64     `json:"pos"`
	Event       string    `json:"event"`
	Rooms       []string  `json:"rooms"` // user:<id> for each user, then the rooms as published
	CommittedAt time.Time `json:"committedAt"`
	ServerTime  time.Time `json:"serverTime"` // to correct for the browser's clock
}

// eventDetails answers GET /console/api/events/{pos} for a bearer token: only events that
// token's user was sent (as a user, or as a member of one of its chat rooms) are shown.
type eventDetails struct{ cfg Config }

func (h *eventDetails) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pos, err := strconv.ParseInt(r.PathValue("pos"), 10, 64)
	if err != nil || pos <= 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "pos must be a positive integer"})
		return
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing_token"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	id, err := h.cfg.Verifier.Verify(ctx, token)
	if err != nil {
		code := auth.CodeInvalidToken
		var ae *auth.Error
		if errors.As(err, &ae) {
			code = ae.Code
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": code})
		return
	}
	d, users, err := h.read(ctx, pos)
	if errors.Is(err, pgx.ErrNoRows) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	if err != nil {
		h.cfg.Logger.WithError(err).WithField("pos", pos).Warn("console: reading an event")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable"})
		return
	}
	if !h.maySee(ctx, id.UserID, users, d.Rooms) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found"})
		return
	}
	for i := len(users) - 1; i >= 0; i-- {
		d.Rooms = append([]string{router.UserRoom(users[i])}, d.Rooms...)
	}
	d.ServerTime = time.Now().UTC()
	writeJSON(w, http.StatusOK, d)
}

func (h *eventDetails) read(ctx context.Context, pos int64) (EventDetails, []string, error) {
	d := EventDetails{Pos: pos}
	var (
		users     []string
		committed *time.Time
	)
	err := h.cfg.DB.QueryRow(ctx, `SELECT event, users, rooms, committed_at FROM realtime.events WHERE pos = $1`, pos).
		Scan(&d.Event, &users, &d.Rooms, &committed)
	if committed != nil {
		d.CommittedAt = committed.UTC()
	}
	return d, users, err
}

// maySee reports whether user was among the event's recipients.
func (h *eventDetails) maySee(ctx context.Context, user string, users, rooms []string) bool {
	for _, u := range users {
		if u == user {
			return true
		}
	}
	for _, room := range rooms {
		chat, ok := strings.CutPrefix(room, "chat:")
		if !ok || h.cfg.Membership == nil {
			continue
		}
		if access, _, err := h.cfg.Membership.Check(ctx, user, chat); err == nil && access == router.Member {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
