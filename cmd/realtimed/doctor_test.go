package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/auth/authtest"
	"github.com/realtimed/realtimed/internal/pgtest"
	"github.com/realtimed/realtimed/migrations"
)

const longSecret = "a-secret-of-at-least-thirty-two-bytes-0123456789"

// doctorLine returns the report line of check name.
func doctorLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 6 && strings.HasPrefix(l[6:], name+" ") {
			return l
		}
	}
	return ""
}

func exec1(t *testing.T, dbURL, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func TestDoctorOnAHealthyInstallation(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "REALTIME_REFERENCE_SCHEMA=true", "REALTIME_JWT_SECRET=" + longSecret}
	out, stderr, code := runCLI(t, env, "doctor")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	for _, check := range []string{"database", "schema", "rules", "keys", "sessions", "notify queue", "environment"} {
		if line := doctorLine(out, check); !strings.HasPrefix(line, "ok ") {
			t.Errorf("%s: %q, want ok:\n%s", check, line, out)
		}
	}
	for _, want := range []string{"PostgreSQL ", "realtime at ", "identical to the built-in set", "JWTs with HS256 HS384 HS512: 1 HMAC secret(s)",
		"% of the NOTIFY queue is in use", "room for ", "client connections"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(lastLine(out), "doctor: 8 checks, 0 failed") {
		t.Errorf("summary %q", lastLine(out))
	}
}

// TestDoctorFindsWhatIsWrong breaks one thing at a time; each is a FAIL (or warn) line naming
// it, and doctor exits 1 on a FAIL.
func TestDoctorFindsWhatIsWrong(t *testing.T) {
	failingJWKS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusInternalServerError) }))
	defer failingJWKS.Close()
	for _, tc := range []struct {
		name    string
		breakIt func(t *testing.T, dbURL string) []string // returns extra settings
		check   string
		status  string
		want    string
	}{
		{"a rule edited by hand", func(t *testing.T, dbURL string) []string {
			exec1(t, dbURL, strings.Replace(liveChatsRule(t, dbURL), "'chat.updated'", "'chat.edited'", 1))
			return nil
		}, "rules", "FAIL", "chats.sql differs (realtime.rule_chats())"},
		{"a migration missing", func(t *testing.T, dbURL string) []string {
			if err := migrations.Down(dbURL, 1, migrations.Reference); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "schema", "FAIL", "run realtimed migrate up"},
		{"the JWKS failing", func(t *testing.T, dbURL string) []string {
			return []string{"REALTIME_JWKS_URL=" + failingJWKS.URL}
		}, "keys", "FAIL", "could not be fetched"},
		{"no way to authenticate", func(t *testing.T, dbURL string) []string {
			exec1(t, dbURL, "DROP TABLE sessions CASCADE")
			return []string{"REALTIME_JWT_SECRET="}
		}, "sessions", "FAIL", "no way to authenticate"},
		{"a misspelt variable", func(t *testing.T, dbURL string) []string {
			return []string{"REALTIME_REPLACE_TRIGGER=true"}
		}, "environment", "warn", "did you mean REALTIME_REPLACE_TRIGGERS?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dbURL := pgtest.NewDatabase(t)
			env := append([]string{"DATABASE_URL=" + dbURL, "REALTIME_REFERENCE_SCHEMA=true", "REALTIME_JWT_SECRET=" + longSecret}, tc.breakIt(t, dbURL)...)
			out, _, code := runCLI(t, env, "doctor")
			line := doctorLine(out, tc.check)
			if !strings.HasPrefix(line, tc.status+" ") || !strings.Contains(line, tc.want) {
				t.Fatalf("%s line %q, want %s with %q:\n%s", tc.check, line, tc.status, tc.want, out)
			}
			if wantCode := map[string]int{"FAIL": 1, "warn": 0}[tc.status]; code != wantCode {
				t.Fatalf("exit %d, want %d:\n%s", code, wantCode, out)
			}
		})
	}
}

func TestDoctorWithoutTheDatabase(t *testing.T) {
	dbURL, _ := refusing(t, pgtest.AdminURL(t))
	out, _, code := runCLI(t, []string{"DATABASE_URL=" + dbURL, "REALTIME_JWT_SECRET=" + longSecret}, "doctor")
	if code != 1 || !strings.HasPrefix(doctorLine(out, "database"), "FAIL ") || !strings.Contains(doctorLine(out, "database"), "not reachable") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, check := range []string{"schema", "rules", "sessions", "notify queue"} {
		if line := doctorLine(out, check); !strings.HasPrefix(line, "skip ") {
			t.Errorf("%s: %q, want skip", check, line)
		}
	}
	if !strings.HasPrefix(doctorLine(out, "keys"), "ok ") {
		t.Errorf("the keys need no database: %q", doctorLine(out, "keys"))
	}
}

func TestDoctorJWKS(t *testing.T) {
	keys := authtest.Shared(t)
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(authtest.JWKS(authtest.JWK(&keys.RSA.PublicKey, "k1", "RS256"), authtest.JWK(&keys.P256.PublicKey, "k2", "ES256")))
	}))
	defer jwks.Close()
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "REALTIME_REFERENCE_SCHEMA=true", "REALTIME_JWKS_URL=" + jwks.URL}
	out, _, code := runCLI(t, env, "doctor")
	line := doctorLine(out, "keys")
	if code != 0 || !strings.HasPrefix(line, "ok ") || !strings.Contains(line, "JWKS "+jwks.URL+" with 2 key(s)") || !strings.Contains(line, "RS256") {
		t.Fatalf("exit %d, keys line %q:\n%s", code, line, out)
	}
}

// TestDoctorOpenFiles: the limit is compared with a node's share of the cluster's clients
// (realtime.sessions) and a floor of 10,000.
func TestDoctorOpenFiles(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	env := []string{"DATABASE_URL=" + dbURL, "REALTIME_REFERENCE_SCHEMA=true", "REALTIME_JWT_SECRET=" + longSecret}
	lowLimit := func() (string, int) {
		// ulimit -n sets the soft and hard limits; Go raises the soft one to the hard one.
		cmd := exec.Command("bash", "-c", `ulimit -n 300 && exec "$0" doctor`, binary)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
		out, _ := cmd.Output()
		return doctorLine(string(out), "open files"), cmd.ProcessState.ExitCode()
	}
	line, code := lowLimit()
	if code != 0 || !strings.HasPrefix(line, "warn ") || !regexp.MustCompile(`limit 300: room for \d+ client connections`).MatchString(line) ||
		!strings.Contains(line, "fewer than the 10000 a node should be able to take") || !strings.Contains(line, "raise it") {
		t.Fatalf("exit %d, line %q", code, line)
	}
	// 400 clients on two live nodes: if one fails, the other gets them all.
	exec1(t, dbURL, `INSERT INTO realtime.nodes (id, hostname, addr, pid) VALUES ('n1', 'h', ':1', 1), ('n2', 'h', ':2', 2)`)
	exec1(t, dbURL, `INSERT INTO realtime.sessions (pid, user_id, pos, node, sid)
		SELECT 'p' || i, 'u' || i, 0, CASE WHEN i % 2 = 0 THEN 'n1' ELSE 'n2' END, 's' || i FROM generate_series(1, 400) i`)
	line, code = lowLimit()
	if code != 1 || !strings.HasPrefix(line, "FAIL ") || !strings.Contains(line, "fewer than the 400 a node may have to take now (400 clients on 2 live nodes now, spread over 1 if one fails)") {
		t.Fatalf("exit %d, line %q", code, line)
	}
}

func TestTokenVerify(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	var user string
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `WITH f AS (INSERT INTO families (name) VALUES ('f') RETURNING id)
		INSERT INTO users (family_id, name, role) SELECT id, 'u', 'parent' FROM f RETURNING id::text`).Scan(&user); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `INSERT INTO sessions (token, user_id, expires_at) VALUES
		('session-ok', $1, now() + interval '1 hour'), ('session-old', $1, now() - interval '1 hour')`, user); err != nil {
		t.Fatal(err)
	}
	secret := []byte(longSecret)
	sign := func(ttl time.Duration, extra map[string]any) string {
		tok, err := auth.Sign(secret, "u1", ttl, extra)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	rs := authtest.Sign(t, "RS256", authtest.Shared(t).RSA, "", authtest.Claims("u1", nil))
	env := []string{"DATABASE_URL=" + dbURL, "REALTIME_JWT_SECRET=" + longSecret, "REALTIME_JWT_ISSUER=https://id.example"}
	for _, tc := range []struct {
		name, token, stdin string
		code               int
		want               []string
	}{
		{"accepted", sign(time.Hour, map[string]any{"iss": "https://id.example"}), "", 0, []string{"accepted: user u1 (jwt, expires "}},
		{"from standard input", "-", sign(time.Hour, map[string]any{"iss": "https://id.example"}) + "\n", 0, []string{"accepted: user u1"}},
		{"expired", sign(-time.Minute, map[string]any{"iss": "https://id.example"}), "", 1,
			[]string{"refused: token_expired: token expired", "token: alg HS256, exp ", " ago)", "configured: JWT algorithms HS256 HS384 HS512, issuer https://id.example"}},
		{"wrong issuer", sign(time.Hour, map[string]any{"iss": "https://other.example"}), "", 1,
			[]string{"refused: invalid_token: token issuer (iss) is not accepted", "iss https://other.example", "issuer https://id.example"}},
		{"no key for its algorithm", rs, "", 1, []string{"refused: invalid_token: token algorithm not allowed", "token: alg RS256"}},
		{"a session", "session-ok", "", 0, []string{"accepted: user " + user + " (session, expires "}},
		{"an expired session", "session-old", "", 1, []string{"refused: token_expired: session expired"}},
		{"an unknown session", "no-such-session", "", 1, []string{"refused: invalid_token: unknown session", "session tokens"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := runCLIInput(t, env, tc.stdin, "token", "verify", tc.token)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s%s", code, tc.code, out, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.token != "-" && strings.Contains(out+stderr, tc.token) && len(tc.token) > 20 {
				t.Errorf("the token was printed")
			}
		})
	}
}
