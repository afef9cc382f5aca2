package main

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/auth/authtest"
	"github.com/realtimed/realtimed/internal/pgtest"
)

func TestBadSecurityConfigurationExitsTwo(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "jwt.pub")
	if err := os.WriteFile(notPEM, []byte("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := "DATABASE_URL=postgres://x/y"
	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"unreadable PEM", []string{db, "REALTIME_JWT_PUBLIC_KEYS=" + filepath.Join(dir, "missing.pem")}, []string{"REALTIME_JWT_PUBLIC_KEYS", "missing.pem"}},
		{"corrupt PEM", []string{db, "REALTIME_JWT_PUBLIC_KEYS=k1=" + notPEM}, []string{"REALTIME_JWT_PUBLIC_KEYS", "jwt.pub"}},
		{"JWKS URL without scheme", []string{db, "REALTIME_JWKS_URL=auth.example.com/jwks.json"}, []string{"REALTIME_JWKS_URL", "https://"}},
		{"TLS cert without key", []string{db, "REALTIME_TLS_CERT=" + notPEM}, []string{"REALTIME_TLS_KEY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCLI(t, tc.env, "serve")
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 2 || len(lines) != 1 {
				t.Fatalf("exit %d, stderr %q; want status 2 and one line", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(lines[0], w) {
					t.Fatalf("stderr %q lacks %q", stderr, w)
				}
			}
		})
	}
}

func TestBadSessionQueryExitsTwoAtStart(t *testing.T) {
	env := []string{"DATABASE_URL=" + pgtest.NewDatabase(t), "REALTIME_REFERENCE_SCHEMA=true",
		"REALTIME_SESSION_QUERY=SELECT user_id::text FROM sessions WHERE token = $1"}
	_, stderr, code := runCLI(t, env, "serve")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	if code != 2 || !strings.Contains(last, "REALTIME_SESSION_QUERY") || !strings.Contains(last, "want two") {
		t.Fatalf("exit %d, last line %q; want status 2 naming REALTIME_SESSION_QUERY", code, last)
	}
}

func TestTokenCarriesTheConfiguredClaims(t *testing.T) {
	out, stderr, code := runCLI(t, []string{"REALTIME_JWT_SECRET=s", "REALTIME_JWT_ISSUER=https://id.example",
		"REALTIME_JWT_AUDIENCE=realtime,other", "REALTIME_JWT_USER_CLAIM=uid"}, "token", "--user", "u7")
	if code != 0 {
		t.Fatalf("token: exit %d, %q", code, stderr)
	}
	parts := strings.Split(strings.TrimSpace(out), ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["iss"] != "https://id.example" || claims["aud"] != "realtime" || claims["uid"] != "u7" || claims["sub"] != "u7" {
		t.Fatalf("claims %v", claims)
	}
}

func TestReadyOverTLS(t *testing.T) {
	certPath, keyPath, _ := authtest.SelfSignedCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ready":true}` + "\n"))
	})}
	go srv.ServeTLS(ln, certPath, keyPath) //nolint:errcheck
	defer srv.Close()
	env := []string{"REALTIME_ADDR=" + ln.Addr().String(), "REALTIME_TLS_CERT=" + certPath, "REALTIME_TLS_KEY=" + keyPath}
	out, stderr, code := runCLI(t, env, "ready")
	if code != 0 || !strings.Contains(out, `"ready":true`) {
		t.Fatalf("ready over TLS: exit %d, out %q, stderr %q", code, out, stderr)
	}
}
