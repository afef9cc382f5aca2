package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/auth/authtest"
)

// benchCase is one kind of token with the key that verifies it.
type benchCase struct {
	name, alg, kid string
	sign, verify   any
}

func benchCases(b *testing.B) []benchCase {
	k := authtest.Shared(b)
	secret := []byte("bench-secret-0123456789abcdef-0123456789")
	return []benchCase{
		{"HS256", "HS256", "", secret, secret},
		{"RS256", "RS256", "rsa", k.RSA, &k.RSA.PublicKey},
		{"PS256", "PS256", "rsa", k.RSA, &k.RSA.PublicKey},
		{"ES256", "ES256", "", k.P256, &k.P256.PublicKey},
		{"EdDSA", "EdDSA", "", k.Ed, k.Ed.Public()},
	}
}

// BenchmarkBaselineParse is golang-jwt alone with the one right key: the floor our
// verifier is measured against.
func BenchmarkBaselineParse(b *testing.B) {
	for _, c := range benchCases(b) {
		token := authtest.Sign(b, c.alg, c.sign, c.kid, authtest.Claims("bench-user", nil))
		p := jwt.NewParser(jwt.WithValidMethods([]string{c.alg}), jwt.WithExpirationRequired())
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := p.ParseWithClaims(token, jwt.MapClaims{}, func(*jwt.Token) (any, error) { return c.verify, nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is our verifier configured with every kind of key at once (two secrets,
// four public keys), as a CONNECT runs it.
func BenchmarkVerify(b *testing.B) {
	k := authtest.Shared(b)
	secret := []byte("bench-secret-0123456789abcdef-0123456789")
	v, err := auth.NewJWTVerifier(auth.JWTConfig{
		Secrets: [][]byte{[]byte("previous-bench-secret-0123456789abcdef"), secret},
		Keys: []auth.PublicKey{{ID: "rsa", Key: &k.RSA.PublicKey}, {Key: &k.P256.PublicKey},
			{Key: &k.P384.PublicKey}, {Key: k.Ed.Public()}},
	})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range benchCases(b) {
		token := authtest.Sign(b, c.alg, c.sign, c.kid, authtest.Claims("bench-user", nil))
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := v.Verify(context.Background(), token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyJWKS verifies against a fetched key set (cached: no request per token).
func BenchmarkVerifyJWKS(b *testing.B) {
	k := authtest.Shared(b)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(authtest.JWKS(authtest.JWK(&k.RSA.PublicKey, "a", "RS256"), authtest.JWK(&k.P256.PublicKey, "b", "ES256")))
	}))
	defer srv.Close()
	jwks, err := auth.NewJWKS(auth.JWKSConfig{URL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	if err := jwks.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewJWTVerifier(auth.JWTConfig{JWKS: jwks})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name, alg, kid string
		key            any
	}{{"RS256", "RS256", "a", k.RSA}, {"ES256", "ES256", "b", k.P256}} {
		token := authtest.Sign(b, c.alg, c.key, c.kid, authtest.Claims("bench-user", nil))
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := v.Verify(context.Background(), token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
