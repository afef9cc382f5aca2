package server

import (
	"context"
	"io"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/config"
)

// Tokens is the token verification of a node, built from the configuration the same way,
// for commands that check tokens and keys as a node would (realtimed token verify, doctor).
type Tokens struct {
	// Verifier verifies a token as a node does when a client connects.
	Verifier *auth.Verifier
	// JWT is nil when no secret, public key or JWKS is configured.
	JWT *auth.JWTVerifier
	// JWKS is nil without REALTIME_JWKS_URL; JWKSErr is the outcome of fetching it once.
	JWKS    *auth.JWKS
	JWKSErr error
	// SessionQuery is the session lookup in use; Sessions is false when session tokens are
	// off: no database was given, or the default query found no sessions table.
	SessionQuery string
	Sessions     bool
}

// NewTokens builds the verification of cfg and fetches the JWKS once. With a pool, the
// session query is checked against the database (a query that cannot work is a
// configuration error); without one, session tokens are not checked.
func NewTokens(ctx context.Context, cfg config.Config, pool *pgxpool.Pool) (*Tokens, error) {
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	a, err := newAuth(cfg, pool, quiet)
	if err != nil {
		return nil, err
	}
	t := &Tokens{Verifier: a.verifier, JWKS: a.jwks, SessionQuery: a.sessions.Query()}
	t.JWT, _ = a.verifier.JWT.(*auth.JWTVerifier)
	if a.jwks != nil {
		t.JWKSErr = a.jwks.Refresh(ctx)
	}
	if pool == nil {
		a.verifier.Sessions = nil
		return t, nil
	}
	if err := a.checkSessions(ctx, quiet); err != nil {
		return nil, err
	}
	t.Sessions = a.verifier.Sessions != nil
	return t, nil
}
