package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/auth/authtest"
)

func verifyCode(t *testing.T, v auth.TokenVerifier, token string) (*auth.Identity, string, string) {
	t.Helper()
	id, err := v.Verify(context.Background(), token)
	if err == nil {
		return id, "", ""
	}
	var ae *auth.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *auth.Error", err)
	}
	return nil, ae.Code, ae.Message
}

func TestEachAlgorithmIsEnabledOnlyByItsKey(t *testing.T) {
	k := authtest.Shared(t)
	for _, tc := range []struct {
		name string
		cfg  auth.JWTConfig
		want []string
	}{
		{"secret", auth.JWTConfig{Secrets: [][]byte{[]byte("s")}}, []string{"HS256", "HS384", "HS512"}},
		{"one secret (shorthand)", auth.JWTConfig{Secret: []byte("s")}, []string{"HS256", "HS384", "HS512"}},
		{"RSA", auth.JWTConfig{Keys: []auth.PublicKey{{Key: &k.RSA.PublicKey}}}, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}},
		{"P-256", auth.JWTConfig{Keys: []auth.PublicKey{{Key: &k.P256.PublicKey}}}, []string{"ES256"}},
		{"P-384 and Ed25519", auth.JWTConfig{Keys: []auth.PublicKey{{Key: &k.P384.PublicKey}, {Key: k.Ed.Public()}}}, []string{"ES384", "EdDSA"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := auth.NewJWTVerifier(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(v.Algorithms(), ","); got != strings.Join(tc.want, ",") {
				t.Fatalf("algorithms %s, want %s", got, strings.Join(tc.want, ","))
			}
		})
	}
	if _, err := auth.NewJWTVerifier(auth.JWTConfig{Secrets: [][]byte{nil}}); err == nil {
		t.Fatal("a verifier without any key was built")
	}
}

func TestValidTokensOfEachKind(t *testing.T) {
	k := authtest.Shared(t)
	v, err := auth.NewJWTVerifier(auth.JWTConfig{
		Secrets: [][]byte{[]byte("current-secret-0123456789abcdef01"), []byte("previous-secret-0123456789abcdef")},
		Keys: []auth.PublicKey{{ID: "rsa", Key: &k.RSA.PublicKey}, {Key: &k.P256.PublicKey}, {Key: &k.P384.PublicKey},
			{ID: "ed", Key: k.Ed.Public()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	claims := authtest.Claims("user-1", nil)
	for _, tc := range []struct {
		name, alg, kid string
		key            any
	}{
		{"HS256 current secret", "HS256", "", []byte("current-secret-0123456789abcdef01")},
		{"HS256 previous secret", "HS256", "", []byte("previous-secret-0123456789abcdef")},
		{"HS384", "HS384", "", []byte("current-secret-0123456789abcdef01")},
		{"HS512", "HS512", "", []byte("previous-secret-0123456789abcdef")},
		{"RS256 by kid", "RS256", "rsa", k.RSA},
		{"RS256 without kid", "RS256", "", k.RSA},
		{"RS384", "RS384", "rsa", k.RSA},
		{"RS512", "RS512", "rsa", k.RSA},
		{"PS256", "PS256", "rsa", k.RSA},
		{"ES256 (key without id, token with a kid)", "ES256", "whatever", k.P256},
		{"ES384", "ES384", "", k.P384},
		{"EdDSA", "EdDSA", "ed", k.Ed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, code, msg := verifyCode(t, v, authtest.Sign(t, tc.alg, tc.key, tc.kid, claims))
			if code != "" {
				t.Fatalf("refused: %s %s", code, msg)
			}
			if id.UserID != "user-1" || id.Method != auth.MethodJWT || id.ExpiresAt.IsZero() {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestClaimOptions(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	mk := func(cfg auth.JWTConfig) auth.TokenVerifier {
		cfg.Secrets = [][]byte{secret}
		v, err := auth.NewJWTVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	sign := func(c jwt.MapClaims) string { return authtest.Sign(t, "HS256", secret, "", c) }
	for _, tc := range []struct {
		name     string
		v        auth.TokenVerifier
		token    string
		code     string
		wantUser string
	}{
		{"leeway tolerates a just-expired token", mk(auth.JWTConfig{Leeway: 30 * time.Second}),
			sign(jwt.MapClaims{"sub": "u", "exp": now.Add(-10 * time.Second).Unix()}), "", "u"},
		{"leeway is bounded", mk(auth.JWTConfig{Leeway: 30 * time.Second}),
			sign(jwt.MapClaims{"sub": "u", "exp": now.Add(-time.Minute).Unix()}), auth.CodeExpired, ""},
		{"leeway tolerates nbf a little ahead", mk(auth.JWTConfig{Leeway: 30 * time.Second}),
			sign(jwt.MapClaims{"sub": "u", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(10 * time.Second).Unix()}), "", "u"},
		{"no leeway by default", mk(auth.JWTConfig{}),
			sign(jwt.MapClaims{"sub": "u", "exp": now.Add(-10 * time.Second).Unix()}), auth.CodeExpired, ""},
		{"configured user claim", mk(auth.JWTConfig{UserClaim: "user_id"}),
			sign(jwt.MapClaims{"sub": "auth0|x", "user_id": "42a", "exp": now.Add(time.Hour).Unix()}), "", "42a"},
		{"integer user id", mk(auth.JWTConfig{UserClaim: "uid"}),
			sign(jwt.MapClaims{"uid": 42, "exp": now.Add(time.Hour).Unix()}), "", "42"},
		{"fractional user id", mk(auth.JWTConfig{UserClaim: "uid"}),
			sign(jwt.MapClaims{"uid": 4.2, "exp": now.Add(time.Hour).Unix()}), auth.CodeInvalidToken, ""},
		{"configured claim missing", mk(auth.JWTConfig{UserClaim: "user_id"}),
			sign(jwt.MapClaims{"sub": "u", "exp": now.Add(time.Hour).Unix()}), auth.CodeInvalidToken, ""},
		{"huge user id", mk(auth.JWTConfig{}),
			sign(jwt.MapClaims{"sub": strings.Repeat("u", 300), "exp": now.Add(time.Hour).Unix()}), auth.CodeInvalidToken, ""},
		{"issuer and audience match", mk(auth.JWTConfig{Issuer: "https://id.example", Audience: []string{"a", "realtime"}}),
			sign(jwt.MapClaims{"sub": "u", "exp": now.Add(time.Hour).Unix(), "iss": "https://id.example", "aud": []string{"x", "realtime"}}), "", "u"},
		{"missing audience", mk(auth.JWTConfig{Audience: []string{"realtime"}}),
			sign(jwt.MapClaims{"sub": "u", "exp": now.Add(time.Hour).Unix()}), auth.CodeInvalidToken, ""},
		{"no exp allowed when configured", mk(auth.JWTConfig{AllowNoExpiry: true}),
			sign(jwt.MapClaims{"sub": "u"}), "", "u"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, code, msg := verifyCode(t, tc.v, tc.token)
			if code != tc.code {
				t.Fatalf("code %q (%s), want %q", code, msg, tc.code)
			}
			if tc.wantUser != "" && id.UserID != tc.wantUser {
				t.Fatalf("user %q, want %q", id.UserID, tc.wantUser)
			}
		})
	}
}

// countingSessions records lookups.
type countingSessions struct{ n atomic.Int32 }

func (c *countingSessions) Verify(_ context.Context, token string) (*auth.Identity, error) {
	c.n.Add(1)
	if token == "abc.def.ghi" {
		return &auth.Identity{UserID: "s", Method: auth.MethodSession}, nil
	}
	return nil, &auth.Error{Code: auth.CodeInvalidToken, Message: "unknown session"}
}

func TestWellFormedJWTsNeverReachTheSessionStore(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{Secrets: [][]byte{secret}})
	if err != nil {
		t.Fatal(err)
	}
	sessions := &countingSessions{}
	v := &auth.Verifier{JWT: jv, Sessions: sessions}
	expired := authtest.Sign(t, "HS256", secret, "", jwt.MapClaims{"sub": "u", "exp": time.Now().Add(-time.Hour).Unix()})
	if _, code, _ := verifyCode(t, v, expired); code != auth.CodeExpired {
		t.Fatalf("expired JWT: %q", code)
	}
	forged := authtest.Sign(t, "HS256", []byte("another secret"), "", authtest.Claims("u", nil))
	if _, code, _ := verifyCode(t, v, forged); code != auth.CodeInvalidToken {
		t.Fatalf("forged JWT: %q", code)
	}
	if n := sessions.n.Load(); n != 0 {
		t.Fatalf("%d session lookups for well-formed JWTs, want 0", n)
	}
	// A session token that happens to have two dots is still looked up.
	if id, code, _ := verifyCode(t, v, "abc.def.ghi"); code != "" || id.UserID != "s" {
		t.Fatalf("dotted session token: %q", code)
	}
	if _, code, _ := verifyCode(t, v, "   "); code != auth.CodeMissingToken {
		t.Fatalf("blank token: %q", code)
	}
	if _, code, msg := verifyCode(t, v, strings.Repeat("a", 9000)); code != auth.CodeInvalidToken || !strings.Contains(msg, "too long") {
		t.Fatalf("oversized token: %q %q", code, msg)
	}
}
