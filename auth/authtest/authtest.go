// Package authtest makes keys, PEM files, JWKS documents and tokens for tests, including the
// hostile ones (alg:none, algorithm confusion, truncated, non-JSON claims) no library signs.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Keys is a set of private keys of every supported type.
type Keys struct {
	RSA   *rsa.PrivateKey
	P256  *ecdsa.PrivateKey
	P384  *ecdsa.PrivateKey
	Ed    ed25519.PrivateKey
	Other *rsa.PrivateKey // a second RSA key, for "wrong key" and rotation
}

var (
	once sync.Once
	keys *Keys
)

// Shared returns keys generated once per test binary (RSA generation is slow under -race).
func Shared(t testing.TB) *Keys {
	t.Helper()
	once.Do(func() { keys = generate() })
	return keys
}

func generate() *Keys {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	k := &Keys{}
	var err error
	k.RSA, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.Other, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.P256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.P384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, k.Ed, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	return k
}

// PublicPEM encodes a public key as a PEM "PUBLIC KEY" block.
func PublicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// WriteFile writes data to a file in a test directory and returns its path.
func WriteFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Claims returns sub/iat/exp claims for user valid for an hour, plus extra.
func Claims(user string, extra map[string]any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": user, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

// Sign signs claims with key using alg; kid, when set, goes in the header.
func Sign(t testing.TB, alg string, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing %s: %v", alg, err)
	}
	return s
}

// B64 is base64url without padding, as JWTs use.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Raw assembles a token from a header and claims (any JSON value, or raw bytes) and a
// signature made by sign over "header.claims" (nil: empty signature).
func Raw(t testing.TB, header map[string]any, claims any, sign func(data []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	var c []byte
	if b, ok := claims.([]byte); ok {
		c = b
	} else if c, err = json.Marshal(claims); err != nil {
		t.Fatal(err)
	}
	data := B64(h) + "." + B64(c)
	sig := ""
	if sign != nil {
		sig = B64(sign([]byte(data)))
	}
	return data + "." + sig
}

// HMAC signs data with HMAC-SHA256 and secret (for confusion tokens: secret = a PEM).
func HMAC(secret []byte) func([]byte) []byte {
	return func(data []byte) []byte {
		s, err := jwt.SigningMethodHS256.Sign(string(data), secret)
		if err != nil {
			panic(err)
		}
		return s
	}
}

// JWK returns the public JWK of a key, with kid and, when set, alg.
func JWK(pub crypto.PublicKey, kid, alg string) map[string]any {
	m := map[string]any{"kid": kid, "use": "sig"}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", B64(k.N.Bytes()), B64(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		raw, err := k.Bytes()
		if err != nil {
			panic(err)
		}
		m["kty"], m["crv"] = "EC", k.Curve.Params().Name
		m["x"], m["y"] = B64(raw[1:1+size]), B64(raw[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", B64(k)
	default:
		panic("authtest: unsupported key")
	}
	return m
}

// JWKS encodes keys as a JWKS document.
func JWKS(keys ...map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// SelfSignedCert writes a self-signed certificate for 127.0.0.1 and localhost and its key as
// PEM files and returns their paths and the certificate pool that trusts it.
func SelfSignedCert(t testing.TB) (certPath, keyPath string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	tmpl.Subject.CommonName = "realtimed test"
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}
