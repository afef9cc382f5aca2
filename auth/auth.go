// Package auth verifies the tokens clients present when they connect: JWTs first (HMAC
// secrets, PEM public keys or a JWKS; algorithm allow-list; exp/nbf/iat, iss, aud), then opaque
// session tokens looked up in the database. It never logs a token.
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Method says how a client was authenticated.
type Method string

// Authentication methods.
const (
	MethodJWT     Method = "jwt"
	MethodSession Method = "session"
)

// Identity is who a token belongs to.
type Identity struct {
	UserID string
	Method Method
	// ExpiresAt is when the token or session stops being valid (zero: never).
	ExpiresAt time.Time
	// SessionToken is the session token, for MethodSession, so that a revoked session can be
	// found among live connections. Never log it.
	SessionToken string
}

// Error codes sent to clients in CONNECT_ERROR data.code.
const (
	CodeMissingToken = "missing_token" // no token in auth.token or the Authorization header
	CodeInvalidToken = "invalid_token" // bad signature, malformed, wrong algorithm, unknown session
	CodeExpired      = "token_expired" // JWT exp passed, or the session expired
	CodeNotYetValid  = "token_not_yet_valid"
	CodeUnavailable  = "auth_unavailable" // the session store could not be reached
)

// Error is a verification failure that can be shown to the client.
type Error struct {
	Code    string // one of the Code* constants
	Message string // human-readable, safe to send to the client
	Err     error  // the underlying cause, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// TokenVerifier verifies one kind of token.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*Identity, error)
}

// Verifier tries JWT verification, then session lookup, as the seed's platform does.
type Verifier struct {
	JWT      TokenVerifier // nil disables JWTs
	Sessions TokenVerifier // nil disables session tokens
}

// Verify returns the identity behind token, or an *Error.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, &Error{Code: CodeMissingToken, Message: "no token: pass auth: { token } or an Authorization: Bearer header"}
	}
	if len(token) > maxTokenBytes {
		return nil, &Error{Code: CodeInvalidToken, Message: "token too long"}
	}
	var jwtErr error
	if v.JWT != nil && LooksLikeJWT(token) {
		id, err := v.JWT.Verify(ctx, token)
		if err == nil {
			return id, nil
		}
		if !isMalformed(err) {
			return nil, err // a well-formed JWT that failed: no session token looks like one
		}
		jwtErr = err
	}
	if v.Sessions != nil {
		id, err := v.Sessions.Verify(ctx, token)
		if err == nil {
			return id, nil
		}
		var ae *Error
		if jwtErr == nil || (errors.As(err, &ae) && ae.Code == CodeUnavailable) {
			return nil, err
		}
	}
	if jwtErr != nil {
		return nil, jwtErr
	}
	return nil, &Error{Code: CodeInvalidToken, Message: "invalid token"}
}

// isMalformed reports whether a JWT verification failed because the token could not even be
// decoded as a JWT, so that it may still be a session token.
func isMalformed(err error) bool { return errors.Is(err, jwt.ErrTokenMalformed) }

// maxTokenBytes bounds what is parsed or looked up.
const maxTokenBytes = 8192

// LooksLikeJWT reports whether token has the three dot-separated parts of a compact JWS.
func LooksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }
