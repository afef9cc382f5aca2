package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/realtimed/realtimed/auth/authtest"
	"github.com/realtimed/realtimed/config"
)

func TestSecuritySettings(t *testing.T) {
	k := authtest.Shared(t)
	rsaPath := authtest.WriteFile(t, "rsa.pem", authtest.PublicPEM(t, &k.RSA.PublicKey))
	certPath, keyPath, _ := authtest.SelfSignedCert(t)
	c, err := config.Load(env(map[string]string{
		"REALTIME_JWT_SECRET":               "current",
		"REALTIME_JWT_PREVIOUS_SECRETS":     "old1, old2",
		"REALTIME_JWT_PUBLIC_KEYS":          "k1=" + rsaPath,
		"REALTIME_JWKS_URL":                 "https://id.example/.well-known/jwks.json",
		"REALTIME_JWT_AUDIENCE":             "a,b",
		"REALTIME_JWT_LEEWAY":               "30s",
		"REALTIME_TRUSTED_PROXIES":          "10.0.0.0/8",
		"REALTIME_HANDSHAKE_RATE":           "0.5",
		"REALTIME_MAX_CONNECTIONS_PER_USER": "0",
		"REALTIME_TLS_CERT":                 certPath,
		"REALTIME_TLS_KEY":                  keyPath,
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.JWTPreviousSecrets) != 2 || c.JWTPreviousSecrets[1] != "old2" || len(c.JWTPublicKeys) != 1 ||
		c.JWTPublicKeys[0].ID != "k1" || len(c.JWTAudience) != 2 || c.JWTLeeway != 30*time.Second ||
		len(c.TrustedProxies) != 1 || c.HandshakeRate != 0.5 || c.MaxConnsPerUser != 0 {
		t.Fatalf("unexpected config: %+v", c)
	}
	d, err := config.Load(env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.HandshakeRate != 20 || d.HandshakeBurst != 60 || d.MaxConnsPerUser != 100 || d.HandshakeTimeout != 10*time.Second ||
		d.JWTUserClaim != "sub" || d.AllowQueryToken || d.JWKSRefresh != time.Hour || d.JWKSMinInterval != 10*time.Second ||
		d.JWKSTimeout != 3*time.Second || d.JWTLeeway != 0 {
		t.Fatalf("unexpected defaults: %+v", d)
	}
}

func TestBadSecuritySettingsAreOneClearLine(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(notPEM, []byte("ssh-ed25519 AAAA"), 0o600); err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, _ := authtest.SelfSignedCert(t)
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"REALTIME_JWT_PUBLIC_KEYS": notPEM}, []string{"REALTIME_JWT_PUBLIC_KEYS", "key.txt", "no PEM block"}},
		{map[string]string{"REALTIME_JWT_PUBLIC_KEYS": filepath.Join(dir, "missing.pem")}, []string{"REALTIME_JWT_PUBLIC_KEYS", "missing.pem"}},
		{map[string]string{"REALTIME_JWT_PUBLIC_KEYS": keyPath}, []string{"REALTIME_JWT_PUBLIC_KEYS", "PRIVATE KEY", "public key instead"}},
		{map[string]string{"REALTIME_JWKS_URL": "id.example/jwks.json"}, []string{"REALTIME_JWKS_URL", "https://"}},
		{map[string]string{"REALTIME_JWT_LEEWAY": "-1s"}, []string{"REALTIME_JWT_LEEWAY"}},
		{map[string]string{"REALTIME_HANDSHAKE_RATE": "-3"}, []string{"REALTIME_HANDSHAKE_RATE"}},
		{map[string]string{"REALTIME_HANDSHAKE_RATE": "NaN"}, []string{"REALTIME_HANDSHAKE_RATE"}},
		{map[string]string{"REALTIME_HANDSHAKE_BURST": "0"}, []string{"REALTIME_HANDSHAKE_BURST"}},
		{map[string]string{"REALTIME_MAX_CONNECTIONS_PER_USER": "-1"}, []string{"REALTIME_MAX_CONNECTIONS_PER_USER"}},
		{map[string]string{"REALTIME_TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"REALTIME_TRUSTED_PROXIES", "CIDR"}},
		{map[string]string{"REALTIME_HANDSHAKE_TIMEOUT": "0s"}, []string{"REALTIME_HANDSHAKE_TIMEOUT"}},
		{map[string]string{"REALTIME_ALLOW_QUERY_TOKEN": "yes please"}, []string{"REALTIME_ALLOW_QUERY_TOKEN"}},
		{map[string]string{"REALTIME_TLS_CERT": certPath}, []string{"REALTIME_TLS_KEY", "both or neither"}},
		{map[string]string{"REALTIME_TLS_CERT": certPath, "REALTIME_TLS_KEY": certPath}, []string{"REALTIME_TLS_CERT", "cert.pem"}},
		{map[string]string{"REALTIME_TLS_CERT": filepath.Join(dir, "nope.pem"), "REALTIME_TLS_KEY": keyPath}, []string{"nope.pem"}},
	} {
		_, err := config.Load(env(tc.env), nil)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("env %v: error %v, want one line", tc.env, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("env %v: error %q lacks %q", tc.env, err, w)
			}
		}
	}
}

func TestSecretsAndPasswordsAreNotEchoed(t *testing.T) {
	_, err := config.Load(env(map[string]string{"DATABASE_URL": "mysql://admin:hunter2@db/x"}), nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("error %v: the password is echoed or the variable not named", err)
	}
}
