package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/socketio"
)

// authTimeout bounds token verification (a session lookup) during CONNECT.
const authTimeout = 5 * time.Second

// authenticate is the namespace middleware: it verifies the token from the CONNECT auth
// payload ({token}) or, for non-browser clients, the Authorization: Bearer header, and joins
// the socket to its user room.
func (r *Router) authenticate(s *socketio.Socket) error {
	token, err := tokenOf(s)
	if err != nil {
		r.authFailed(s, auth.CodeInvalidToken)
		return connectError(&auth.Error{Code: auth.CodeInvalidToken, Message: err.Error()})
	}
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	defer cancel()
	gen := r.revs.generation()
	id, err := r.verifier.Verify(ctx, token)
	if err != nil {
		var ae *auth.Error
		if !errors.As(err, &ae) {
			ae = &auth.Error{Code: auth.CodeInvalidToken, Message: "invalid token", Err: err}
		}
		r.authFailed(s, ae.Code)
		if ae.Code == auth.CodeUnavailable {
			return fmt.Errorf("%w: %v", socketio.ErrRetryLater, ae)
		}
		r.log.WithFields(map[string]any{"sid": s.Conn().ID(), "remote": s.Conn().RemoteAddr(), "code": ae.Code}).
			WithError(ae.Err).Info("auth: connection refused")
		return connectError(ae)
	}
	c := &Client{Identity: *id, revGen: gen}
	if id.Method == auth.MethodSession {
		c.SessionHash = SessionHash(id.SessionToken)
		if revoked, known := r.revs.sessionRevokedSince(gen, c.SessionHash); revoked || !known {
			// Revoked while it was being verified: let the client try again, and the database
			// answer it.
			return fmt.Errorf("%w: the session was revoked while it was being verified", socketio.ErrRetryLater)
		}
	}
	s.Data = c
	s.Join(UserRoom(id.UserID))
	r.log.WithFields(map[string]any{"sid": s.Conn().ID(), "user": id.UserID, "room": UserRoom(id.UserID)}).Debug("joined")
	return nil
}

func (r *Router) authFailed(s *socketio.Socket, code string) {
	if r.hooks.AuthFailed != nil {
		r.hooks.AuthFailed(code)
	}
}

func connectError(ae *auth.Error) *socketio.ConnectError {
	return &socketio.ConnectError{
		Message: "Authentication failed: " + ae.Message,
		Data:    map[string]string{"code": ae.Code},
	}
}

// tokenOf extracts the client's token: auth.token first (the seed's client), then the
// Authorization header.
func tokenOf(s *socketio.Socket) (string, error) {
	if raw := s.Auth(); len(raw) > 0 {
		var payload struct {
			Token json.RawMessage `json:"token"`
		}
		if err := json.Unmarshal(raw, &payload); err != nil {
			return "", fmt.Errorf("auth payload is not a JSON object")
		}
		if len(payload.Token) > 0 && string(payload.Token) != "null" {
			var token string
			if err := json.Unmarshal(payload.Token, &token); err != nil {
				return "", fmt.Errorf("auth.token must be a string")
			}
			return token, nil
		}
	}
	h := s.Conn().Header().Get("Authorization")
	if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return token, nil
	}
	return "", nil
}
