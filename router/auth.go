package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/socketio"
)

// authTimeout bounds token verification (a session lookup, a JWKS fetch) during CONNECT.
const authTimeout = 5 * time.Second

// CodeTooManyConnections is the CONNECT_ERROR data.code of a user who already has the most
// connections allowed (MaxConnectionsPerUser).
const CodeTooManyConnections = "too_many_connections"

// QueryTokenParam is the URL query parameter read for the token when AllowQueryToken is on.
const QueryTokenParam = "token"

// authenticate is the namespace middleware: it verifies the token from the CONNECT auth
// payload ({token}) or, for non-browser clients, the Authorization: Bearer header (or the URL
// query when allowed), takes one of the user's connection slots, and joins the socket to its
// user room.
func (r *Router) authenticate(s *socketio.Socket) error {
	token, ae := r.tokenOf(s)
	if ae == nil {
		gen := r.revs.generation()
		var id *auth.Identity
		if id, ae = r.verify(token); ae == nil {
			return r.admitUser(s, id, gen)
		}
	}
	r.authFailed(s, ae.Code)
	if ae.Code == auth.CodeUnavailable {
		return fmt.Errorf("%w: %v", socketio.ErrRetryLater, ae)
	}
	r.log.WithFields(logrus.Fields{"sid": s.Conn().ID(), "remote": s.Conn().RemoteAddr(), "code": ae.Code, "reason": ae.Message}).
		WithError(ae.Err).Info("auth: connection refused")
	return connectError("Authentication failed: "+ae.Message, ae.Code)
}

func (r *Router) verify(token string) (*auth.Identity, *auth.Error) {
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	defer cancel()
	id, err := r.verifier.Verify(ctx, token)
	if err == nil {
		return id, nil
	}
	var ae *auth.Error
	if !errors.As(err, &ae) {
		ae = &auth.Error{Code: auth.CodeInvalidToken, Message: "invalid token", Err: err}
	}
	return nil, ae
}

// admitUser lets a verified client in: a session revoked while it was being verified is sent
// back to retry; otherwise it takes a connection slot for the user (released when the socket
// is done, whichever way) and joins the user's room. gen is the revocation generation from
// before the verification.
func (r *Router) admitUser(s *socketio.Socket, id *auth.Identity, gen uint64) error {
	c := &Client{Identity: *id, revGen: gen}
	if id.Method == auth.MethodSession {
		c.SessionHash = SessionHash(id.SessionToken)
		if revoked, known := r.revs.sessionRevokedSince(gen, c.SessionHash); revoked || !known {
			// Revoked while it was being verified: let the client try again, and the database
			// answer it.
			return fmt.Errorf("%w: the session was revoked while it was being verified", socketio.ErrRetryLater)
		}
	}
	if !r.users.acquire(id.UserID) {
		r.authFailed(s, CodeTooManyConnections)
		r.log.WithFields(logrus.Fields{"sid": s.Conn().ID(), "remote": s.Conn().RemoteAddr(), "user": id.UserID, "max": r.users.max}).
			Info("auth: connection refused: too many connections for this user")
		return connectError(fmt.Sprintf("Too many connections for this user (at most %d)", r.users.max), CodeTooManyConnections)
	}
	user := id.UserID
	s.Cleanup(func() { r.users.release(user) })
	s.Data = c
	s.Join(UserRoom(id.UserID))
	r.log.WithFields(map[string]any{"sid": s.Conn().ID(), "user": id.UserID, "room": UserRoom(id.UserID)}).Debug("joined")
	return nil
}

func (r *Router) authFailed(_ *socketio.Socket, code string) {
	if r.hooks.AuthFailed != nil {
		r.hooks.AuthFailed(code)
	}
}

func connectError(message, code string) *socketio.ConnectError {
	return &socketio.ConnectError{Message: message, Data: map[string]string{"code": code}}
}

// tokenOf extracts the client's token: auth.token first (the seed's client), then the
// Authorization header, then, only when allowed, the URL query (URLs end up in access logs).
func (r *Router) tokenOf(s *socketio.Socket) (string, *auth.Error) {
	if raw := s.Auth(); len(raw) > 0 {
		var payload struct {
			Token json.RawMessage `json:"token"`
		}
		if err := json.Unmarshal(raw, &payload); err != nil {
			return "", &auth.Error{Code: auth.CodeInvalidToken, Message: "auth payload is not a JSON object"}
		}
		if len(payload.Token) > 0 && string(payload.Token) != "null" {
			var token string
			if err := json.Unmarshal(payload.Token, &token); err != nil {
				return "", &auth.Error{Code: auth.CodeInvalidToken, Message: "auth.token must be a string"}
			}
			return token, nil
		}
	}
	h := s.Conn().Header().Get("Authorization")
	if scheme, token, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return token, nil
	}
	if q := s.Conn().Query().Get(QueryTokenParam); q != "" {
		if r.opts.queryToken {
			return q, nil
		}
		return "", &auth.Error{Code: auth.CodeMissingToken,
			Message: "a token in the URL query string is not accepted (URLs end up in logs): pass auth: { token }"}
	}
	return "", nil
}
