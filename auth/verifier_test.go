package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/internal/pgtest"
)

const secret = "test-secret"

// newVerifier returns a JWT+session verifier on a fresh database with one user and sessions.
func newVerifier(t *testing.T) (*auth.Verifier, *pgxpool.Pool, string) {
	t.Helper()
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	var user string
	err := pool.QueryRow(context.Background(), `
		WITH f AS (INSERT INTO families (name) VALUES ('f') RETURNING id)
		INSERT INTO users (family_id, name, role) SELECT id, 'u', 'parent' FROM f RETURNING id::text`).Scan(&user)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(context.Background(), `INSERT INTO sessions (token, user_id, expires_at) VALUES
		('live-session', $1, now() + interval '1 hour'),
		('dead-session', $1, now() - interval '1 second'),
		('aaa.bbb.ccc', $1, now() + interval '1 hour')`, user)
	if err != nil {
		t.Fatal(err)
	}
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Secrets: [][]byte{[]byte(secret)}})
	if err != nil {
		t.Fatal(err)
	}
	return &auth.Verifier{JWT: jv, Sessions: auth.NewSessionVerifier(pool, "")}, pool, user
}

func sign(t *testing.T, key, user string, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.SignHS256([]byte(key), user, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifier(t *testing.T) {
	v, _, user := newVerifier(t)
	cases := []struct {
		name   string
		token  string
		method auth.Method
		code   string
	}{
		{"valid JWT", sign(t, secret, user, time.Minute), auth.MethodJWT, ""},
		{"JWT with padding spaces", "  " + sign(t, secret, user, time.Minute) + " ", auth.MethodJWT, ""},
		{"expired JWT", sign(t, secret, user, -time.Minute), "", auth.CodeExpired},
		{"JWT signed with another secret", sign(t, "other", user, time.Minute), "", auth.CodeInvalidToken},
		{"live session", "live-session", auth.MethodSession, ""},
		{"session shaped like a JWT", "aaa.bbb.ccc", auth.MethodSession, ""},
		{"expired session", "dead-session", "", auth.CodeExpired},
		{"unknown session", "nope", "", auth.CodeInvalidToken},
		{"empty", "", "", auth.CodeMissingToken},
		{"oversized", strings.Repeat("x", 10000), "", auth.CodeInvalidToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tc.token)
			if tc.code != "" {
				var ae *auth.Error
				if !errors.As(err, &ae) || ae.Code != tc.code {
					t.Fatalf("Verify: %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id.UserID != user || id.Method != tc.method || id.ExpiresAt.IsZero() {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// TestSessionStoreUnavailable: a database outage is reported as such, not as a bad token.
func TestSessionStoreUnavailable(t *testing.T) {
	v, pool, _ := newVerifier(t)
	pool.Close()
	_, err := v.Verify(context.Background(), "live-session")
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != auth.CodeUnavailable {
		t.Fatalf("Verify with the database gone: %v, want %s", err, auth.CodeUnavailable)
	}
}

func TestSessionTokenNeverInErrors(t *testing.T) {
	v, _, _ := newVerifier(t)
	for _, tok := range []string{"dead-session", "secret-unknown-token"} {
		_, err := v.Verify(context.Background(), tok)
		if err == nil || strings.Contains(err.Error(), tok) {
			t.Fatalf("error %q must not contain the token", err)
		}
	}
}
