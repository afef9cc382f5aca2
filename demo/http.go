package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
)

// TokenTTL is how long the tokens handed out by the demo endpoints are valid.
const TokenTTL = 24 * time.Hour

// Handler serves the demo-only endpoints used by the console in demo mode (REALTIME_DEMO):
//
//	GET  /demo/family   the demo family (seeded if needed) with a JWT for each member
//	POST /demo/task     {"userId"}: a task assigned to that member (→ task.created)
//	POST /demo/message  {"userId","body"}: a message from that member in the family chat (→ message.new)
//
// They write to the reference schema, only for the demo family's members: never enable them
// in production.
func Handler(db *pgxpool.Pool, jwtSecret []byte, log logrus.FieldLogger) http.Handler {
	h := &handler{db: db, secret: jwtSecret, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /demo/family", h.family)
	mux.HandleFunc("POST /demo/task", h.task)
	mux.HandleFunc("POST /demo/message", h.message)
	return mux
}

type handler struct {
	db     *pgxpool.Pool
	secret []byte
	log    logrus.FieldLogger
}

// MemberWithToken is a demo member and a JWT to connect as them.
type MemberWithToken struct {
	Member
	Token string `json:"token"`
}

func (h *handler) family(w http.ResponseWriter, r *http.Request) {
	conn, err := h.db.Acquire(r.Context())
	if err != nil {
		h.fail(w, fmt.Errorf("demo: %w", err))
		return
	}
	defer conn.Release()
	fam, err := Seed(r.Context(), conn.Conn())
	if err != nil {
		h.fail(w, err)
		return
	}
	out := struct {
		FamilyID string            `json:"familyId"`
		ChatID   string            `json:"chatId"`
		Members  []MemberWithToken `json:"members"`
	}{FamilyID: fam.ID, ChatID: fam.ChatID}
	for _, m := range fam.Members {
		tok, err := auth.SignHS256(h.secret, m.ID, TokenTTL)
		if err != nil {
			h.fail(w, err)
			return
		}
		out.Members = append(out.Members, MemberWithToken{Member: m, Token: tok})
	}
	writeJSON(w, http.StatusOK, out)
}

type writeRequest struct {
	UserID string `json:"userId"`
	Body   string `json:"body"`
}

// decode reads a request for one of the demo members.
func decode(r *http.Request) (writeRequest, error) {
	var req writeRequest
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096)).Decode(&req); err != nil {
		return req, fmt.Errorf("the body must be a JSON object: %w", err)
	}
	if !slices.ContainsFunc(members, func(m Member) bool { return m.ID == req.UserID }) {
		return req, errors.New("userId must be one of the demo family's members")
	}
	return req, nil
}

var taskNames = []string{"Take out the trash", "Water the plants", "Feed the cat", "Tidy the room", "Do the dishes"}

func (h *handler) task(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	name := taskNames[time.Now().UnixNano()%int64(len(taskNames))]
	var id string
	err = h.db.QueryRow(r.Context(), `INSERT INTO tasks (family_id, name, assignment_type, assigned_to, karma)
		VALUES ($1, $2, 'member', $3, 5) RETURNING id`, familyID, name, req.UserID).Scan(&id)
	if err != nil {
		h.fail(w, fmt.Errorf("demo: creating a task: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"taskId": id, "name": name})
}

func (h *handler) message(w http.ResponseWriter, r *http.Request) {
	req, err := decode(r)
	if err != nil || req.Body == "" || len(req.Body) > 1000 {
		if err == nil {
			err = errors.New("body must be 1 to 1000 bytes of text")
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	var id string
	err = h.db.QueryRow(r.Context(), `INSERT INTO messages (chat_id, user_id, body) VALUES ($1, $2, $3) RETURNING id`,
		chatID, req.UserID, req.Body).Scan(&id)
	if err != nil {
		h.fail(w, fmt.Errorf("demo: sending a message: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"messageId": id, "chatId": chatID})
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	if !errors.Is(err, context.Canceled) {
		h.log.WithError(err).Warn("demo: request failed")
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
