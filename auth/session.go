package auth

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSessionQuery looks a token up in the reference schema's sessions table. A custom
// query takes the token as $1 and returns the user id (text) and the expiry (timestamptz).
const DefaultSessionQuery = `SELECT user_id::text, expires_at FROM sessions WHERE token = $1`

// SessionVerifier verifies opaque session tokens against the database.
type SessionVerifier struct {
	pool  *pgxpool.Pool
	query string
	now   func() time.Time
}

// NewSessionVerifier returns a verifier running query (DefaultSessionQuery when empty).
func NewSessionVerifier(pool *pgxpool.Pool, query string) *SessionVerifier {
	if query == "" {
		query = DefaultSessionQuery
	}
	return &SessionVerifier{pool: pool, query: query, now: time.Now}
}

// Verify looks the session up and checks its expiry.
func (v *SessionVerifier) Verify(ctx context.Context, token string) (*Identity, error) {
	var (
		user    string
		expires time.Time
	)
	err := v.pool.QueryRow(ctx, v.query, token).Scan(&user, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &Error{Code: CodeInvalidToken, Message: "unknown session"}
	}
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "cannot verify the session right now", Err: err}
	}
	if !expires.After(v.now()) {
		return nil, &Error{Code: CodeExpired, Message: "session expired"}
	}
	return &Identity{UserID: user, Method: MethodSession, ExpiresAt: expires, SessionToken: token}, nil
}
