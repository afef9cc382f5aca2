package router

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/internal/siotest"
	"github.com/realtimed/realtimed/internal/wait"
)

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// betterAuthSchema is better-auth's user and session tables as its CLI creates them for
// PostgreSQL (camelCase quoted columns), with the expiry column type as given.
func betterAuthSchema(expiresType string) string {
	return `CREATE TABLE "user" ("id" text PRIMARY KEY, "name" text NOT NULL, "email" text NOT NULL UNIQUE,
	    "emailVerified" boolean NOT NULL, "image" text, "createdAt" timestamptz NOT NULL, "updatedAt" timestamptz NOT NULL);
	CREATE TABLE "session" ("id" text PRIMARY KEY, "expiresAt" ` + expiresType + ` NOT NULL, "token" text NOT NULL UNIQUE,
	    "createdAt" timestamptz NOT NULL, "updatedAt" timestamptz NOT NULL, "ipAddress" text, "userAgent" text,
	    "userId" text NOT NULL REFERENCES "user" ("id") ON DELETE CASCADE)`
}

type sessionCase struct {
	name string
	opts siotest.Options
	code string // "" = accepted
	user string
}

func runSessionCases(t *testing.T, f *fixture, cases []sessionCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := f.connect(t, tc.opts)
			switch {
			case tc.code == "" && c.Refused != nil:
				t.Fatalf("refused: %s (%s)", c.Refused.Message, c.Refused.Code())
			case tc.code == "":
				wait.Until(t, "the user room", func() bool { return f.io.Of("/").RoomSize(UserRoom(tc.user)) > 0 })
			case c.Refused == nil:
				t.Fatalf("accepted; want %s", tc.code)
			case c.Refused.Code() != tc.code:
				t.Fatalf("code %s (%s); want %s", c.Refused.Code(), c.Refused.Message, tc.code)
			}
		})
	}
}

func TestReferenceSessionTokens(t *testing.T) {
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	var user string
	if err := pool.QueryRow(context.Background(), `WITH f AS (INSERT INTO families (name) VALUES ('f') RETURNING id)
		INSERT INTO users (family_id, name, role) SELECT id, 'p', 'parent' FROM f RETURNING id::text`).Scan(&user); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `INSERT INTO sessions (token, user_id, expires_at) VALUES
		('ref-valid-session-token-0001', $1, now() + interval '1 hour'),
		('ref-expired-session-token-01', $1, now() - interval '1 second')`, user)
	sv := auth.NewSessionVerifier(pool, "")
	if err := sv.Check(context.Background()); err != nil {
		t.Fatalf("default query: %v", err)
	}
	f := newFixture(t, &auth.Verifier{Sessions: sv})
	cases := []sessionCase{
		{"valid", tokenAuth("ref-valid-session-token-0001"), "", user},
		{"valid in the Authorization header", siotest.Options{Header: http.Header{"Authorization": {"Bearer ref-valid-session-token-0001"}}}, "", user},
		{"expired", tokenAuth("ref-expired-session-token-01"), auth.CodeExpired, ""},
		{"unknown", tokenAuth("ref-unknown-session-token-1"), auth.CodeInvalidToken, ""},
		{"SQL in the token is only data", tokenAuth("' OR '1'='1"), auth.CodeInvalidToken, ""},
	}
	runSessionCases(t, f, cases)
	assertSessionTokensNotLogged(t, f, cases)
}

func TestBetterAuthSessionTable(t *testing.T) {
	for _, expiresType := range []string{"timestamptz", "timestamp"} {
		t.Run(expiresType, func(t *testing.T) {
			pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
			exec(t, pool, betterAuthSchema(expiresType))
			exec(t, pool, `INSERT INTO "user" VALUES ('usr_01J9', 'Ada', 'ada@example.com', true, NULL, now(), now())`)
			// better-auth writes UTC instants; a timestamp column holds them without a zone.
			exec(t, pool, `INSERT INTO "session" ("id", "expiresAt", "token", "createdAt", "updatedAt", "userId") VALUES
				('s1', (now() + interval '7 days') AT TIME ZONE 'UTC', 'ba-valid-Xk3P9qL0aZ7mN2vB5cD8eF1g', now(), now(), 'usr_01J9'),
				('s2', (now() - interval '1 minute') AT TIME ZONE 'UTC', 'ba-expired-Yt6R2wQ4sA9kJ3hG7fD5', now(), now(), 'usr_01J9')`)
			if expiresType == "timestamptz" {
				exec(t, pool, `UPDATE "session" SET "expiresAt" = CASE "id" WHEN 's1' THEN now() + interval '7 days' ELSE now() - interval '1 minute' END`)
			}
			sv := auth.NewSessionVerifier(pool, auth.BetterAuthSessionQuery)
			if err := sv.Check(context.Background()); err != nil {
				t.Fatalf("better-auth query: %v", err)
			}
			f := newFixture(t, &auth.Verifier{Sessions: sv})
			cases := []sessionCase{
				{"valid", tokenAuth("ba-valid-Xk3P9qL0aZ7mN2vB5cD8eF1g"), "", "usr_01J9"},
				{"expired", tokenAuth("ba-expired-Yt6R2wQ4sA9kJ3hG7fD5"), auth.CodeExpired, ""},
				{"unknown", tokenAuth("ba-unknown-Zz0000000000000000000"), auth.CodeInvalidToken, ""},
			}
			runSessionCases(t, f, cases)
			assertSessionTokensNotLogged(t, f, cases)
		})
	}
}

func TestCustomSessionQueries(t *testing.T) {
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	var user string
	if err := pool.QueryRow(context.Background(), `WITH f AS (INSERT INTO families (name) VALUES ('f') RETURNING id)
		INSERT INTO users (family_id, name, role) SELECT id, 'p', 'parent' FROM f RETURNING id::text`).Scan(&user); err != nil {
		t.Fatal(err)
	}
	exec(t, pool, `INSERT INTO sessions (token, user_id, expires_at) VALUES ('custom-token-00000001', $1, now() + interval '1 hour')`, user)
	exec(t, pool, `CREATE TABLE api_keys (key text PRIMARY KEY, owner text, expires timestamptz)`)
	exec(t, pool, `INSERT INTO api_keys VALUES ('never-expiring-key-0001', 'svc-1', NULL), ('ownerless-key-000000001', NULL, NULL)`)
	for _, tc := range []struct {
		name, query, token, code, user string
	}{
		{"uuid user id without a cast", `SELECT user_id, expires_at FROM sessions WHERE token = $1`, "custom-token-00000001", "", user},
		{"NULL expiry never expires", `SELECT owner, expires FROM api_keys WHERE key = $1`, "never-expiring-key-0001", "", "svc-1"},
		{"NULL user id is refused", `SELECT owner, expires FROM api_keys WHERE key = $1`, "ownerless-key-000000001", auth.CodeInvalidToken, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sv := auth.NewSessionVerifier(pool, tc.query)
			if err := sv.Check(context.Background()); err != nil {
				t.Fatalf("Check: %v", err)
			}
			f := newFixture(t, &auth.Verifier{Sessions: sv})
			runSessionCases(t, f, []sessionCase{{tc.name, tokenAuth(tc.token), tc.code, tc.user}})
		})
	}
}

func TestSessionQueryCheckExplainsWhatIsWrong(t *testing.T) {
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	for _, tc := range []struct{ query, want string }{
		{`SELECT user_id::text, expires_at, token FROM sessions WHERE token = $1`, "returns 3 columns, want two"},
		{`SELECT user_id::text FROM sessions WHERE token = $1`, "returns 1 columns, want two"},
		{`SELECT user_id::text, expires_at FROM sessions`, "takes 0 parameters"},
		{`SELECT user_id::text, expires_at FROM sessions WHERE token = $1 AND user_id::text = $2`, "takes 2 parameters"},
		{`SELECT user_id::text, 'tomorrow' FROM sessions WHERE token = $1`, "is not a timestamp"},
		{`SELECT user_id::text, expires_at FROM sessions WHERE user_id = $1`, "$1 must be text"},
		{`SELECT "userId", "expiresAt" FROM "session" WHERE "token" = $1`, `does not prepare`},
		{`SELEC nonsense`, "does not prepare"},
	} {
		err := auth.NewSessionVerifier(pool, tc.query).Check(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Check(%q) = %v; want one line containing %q", tc.query, err, tc.want)
		}
	}
	// The default query without the reference schema: sessions are disabled, not an error.
	exec(t, pool, `DROP TABLE sessions`)
	if err := auth.NewSessionVerifier(pool, "").Check(context.Background()); !errors.Is(err, auth.ErrNoSessionTable) {
		t.Fatalf("default query without a sessions table: %v", err)
	}
}

func TestSessionStoreDownClosesTheConnectionSoTheClientRetries(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	f := newFixture(t, &auth.Verifier{Sessions: auth.NewSessionVerifier(pool, "")})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := siotest.Connect(ctx, f.url, tokenAuth("down-session-token-000001"))
	if !errors.Is(err, siotest.ErrClosed) {
		t.Fatalf("connect = %+v, %v; want the connection closed without CONNECT_ERROR", c, err)
	}
	if strings.Contains(f.logs.String(), "down-session-token-000001") {
		t.Fatal("the session token appears in the logs")
	}
}

func TestSessionErrorsNeverCarryTheToken(t *testing.T) {
	pool := pgtest.NewPool(t, pgtest.NewDatabase(t))
	// A query that fails on the token's value (the driver quotes what it cannot encode).
	sv := auth.NewSessionVerifier(pool, `SELECT user_id::text, expires_at FROM sessions WHERE user_id = $1::uuid`)
	const token = "not-a-uuid-SECRET-d41d8cd98f00b204e9800998ecf8427e"
	_, err := sv.Verify(context.Background(), token)
	var ae *auth.Error
	if !errors.As(err, &ae) {
		t.Fatalf("Verify = %v", err)
	}
	if ae.Err == nil || strings.Contains(ae.Error(), token) || strings.Contains(ae.Err.Error(), token) {
		t.Fatalf("error %q carries the token", ae.Error())
	}
	if !strings.Contains(ae.Error(), "[token]") {
		t.Fatalf("error %q: the redaction is not visible", ae.Error())
	}
}

func assertSessionTokensNotLogged(t *testing.T, f *fixture, cases []sessionCase) {
	t.Helper()
	logs := f.logs.String()
	if !strings.Contains(logs, "connected") {
		t.Fatalf("nothing was logged at debug level:\n%s", logs)
	}
	for _, tc := range cases {
		for _, s := range secretsOf(tc.opts) {
			if len(s) >= 12 && strings.Contains(logs, s) {
				t.Errorf("case %q: the session token appears in the logs", tc.name)
			}
		}
	}
}
