package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSessionQuery looks a token up in the reference schema's sessions table. A custom
// query takes the token as $1 and returns one row: the user id and the expiry (timestamptz or
// timestamp, NULL for a session that does not expire), e.g. for better-auth's session table:
//
//	SELECT "userId", "expiresAt" FROM "session" WHERE "token" = $1
const DefaultSessionQuery = `SELECT user_id::text, expires_at FROM sessions WHERE token = $1`

// BetterAuthSessionQuery reads better-auth's session table (token, userId, expiresAt).
const BetterAuthSessionQuery = `SELECT "userId", "expiresAt" FROM "session" WHERE "token" = $1`

// ErrNoSessionTable is returned by Check when the default query's sessions table is missing.
var ErrNoSessionTable = errors.New("auth: the sessions table does not exist")

// SessionVerifier verifies opaque session tokens against the database. Tokens are only ever
// passed as a query parameter and never logged.
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

// Query returns the lookup query in use.
func (v *SessionVerifier) Query() string { return v.query }

// Check prepares the query against the database and reports, in one line, what is wrong with
// it: it must take one parameter and return two columns, the second a timestamp. With the
// default query and no sessions table it returns ErrNoSessionTable.
func (v *SessionVerifier) Check(ctx context.Context) error {
	conn, err := v.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("session query: database: %w", err)
	}
	defer conn.Release()
	sd, err := conn.Conn().Prepare(ctx, "", v.query)
	if err != nil {
		var pgErr *pgconn.PgError
		if v.query == DefaultSessionQuery && errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return ErrNoSessionTable
		}
		return fmt.Errorf("session query does not prepare: %w", err)
	}
	if len(sd.ParamOIDs) != 1 {
		return fmt.Errorf("session query takes %d parameters, want exactly one ($1, the token)", len(sd.ParamOIDs))
	}
	if oid := sd.ParamOIDs[0]; oid != pgtype.TextOID && oid != pgtype.VarcharOID && oid != pgtype.BPCharOID {
		return errors.New("session query's $1 must be text (compare it with a text column, or cast the column: WHERE id::text = $1)")
	}
	if len(sd.Fields) != 2 {
		return fmt.Errorf("session query returns %d columns, want two (user id, expiry)", len(sd.Fields))
	}
	if oid := sd.Fields[1].DataTypeOID; oid != pgtype.TimestamptzOID && oid != pgtype.TimestampOID {
		return fmt.Errorf("session query's second column %q is not a timestamp (the expiry)", sd.Fields[1].Name)
	}
	return nil
}

// Verify looks the session up and checks its expiry.
func (v *SessionVerifier) Verify(ctx context.Context, token string) (*Identity, error) {
	var (
		user    *string
		expires *time.Time
	)
	err := v.pool.QueryRow(ctx, v.query, token).Scan(&user, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &Error{Code: CodeInvalidToken, Message: "unknown session"}
	}
	if err != nil {
		return nil, &Error{Code: CodeUnavailable, Message: "cannot verify the session right now", Err: redact(err, token)}
	}
	if user == nil || *user == "" || len(*user) > maxUserIDBytes {
		return nil, &Error{Code: CodeInvalidToken, Message: "session has no valid user id"}
	}
	id := &Identity{UserID: *user, Method: MethodSession, SessionToken: token}
	if expires != nil {
		if !expires.After(v.now()) {
			return nil, &Error{Code: CodeExpired, Message: "session expired"}
		}
		id.ExpiresAt = *expires
	}
	return id, nil
}

// redactedError is an error message with a secret cut out, for logs.
type redactedError string

func (e redactedError) Error() string { return string(e) }

// redact returns err's message without token (drivers may quote the values they could not
// encode). The chain is dropped on purpose: nothing below may print the token.
func redact(err error, token string) error {
	if token == "" {
		return err
	}
	return redactedError(strings.ReplaceAll(err.Error(), token, "[token]"))
}
