package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/auth/authtest"
)

func TestParsePublicKeyPEMAcceptsEachKeyType(t *testing.T) {
	k := authtest.Shared(t)
	certPath, _, _ := authtest.SelfSignedCert(t)
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pem  []byte
		algs []string
	}{
		{"RSA PKIX", authtest.PublicPEM(t, &k.RSA.PublicKey), []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}},
		{"RSA PKCS#1", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.RSA.PublicKey)}), []string{"RS256"}},
		{"P-256", authtest.PublicPEM(t, &k.P256.PublicKey), []string{"ES256"}},
		{"P-384", authtest.PublicPEM(t, &k.P384.PublicKey), []string{"ES384"}},
		{"Ed25519", authtest.PublicPEM(t, k.Ed.Public()), []string{"EdDSA"}},
		{"certificate (P-256)", certPEM, []string{"ES256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := auth.ParsePublicKeyPEM(tc.pem)
			if err != nil {
				t.Fatal(err)
			}
			algs := auth.PublicKey{Key: key}.Algorithms()
			for _, want := range tc.algs {
				if !slices.Contains(algs, want) {
					t.Errorf("algorithms %v lack %s", algs, want)
				}
			}
			if slices.ContainsFunc(algs, func(a string) bool { return strings.HasPrefix(a, "HS") }) {
				t.Errorf("a public key enables an HMAC algorithm: %v", algs)
			}
		})
	}
}

func TestParsePublicKeyPEMRefusesWithAClearReason(t *testing.T) {
	k := authtest.Shared(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.P256)
	p224DER, _ := x509.MarshalPKIXPublicKey(&p224.PublicKey)
	for _, tc := range []struct {
		name string
		pem  []byte
		want string
	}{
		{"not PEM", []byte("ssh-rsa AAAA… user@host"), "no PEM block"},
		{"empty", nil, "no PEM block"},
		{"private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), "configure the public key"},
		{"unknown block", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{1}}), "unexpected PEM block"},
		{"corrupt body", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("garbage")}), "parsing PUBLIC KEY"},
		{"weak RSA", authtest.PublicPEM(t, &small.PublicKey), "too small"},
		{"P-224", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p224DER}), "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.ParsePublicKeyPEM(tc.pem)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestParseKeyFiles(t *testing.T) {
	k := authtest.Shared(t)
	rsaPath := authtest.WriteFile(t, "rsa.pem", authtest.PublicPEM(t, &k.RSA.PublicKey))
	edPath := authtest.WriteFile(t, "ed.pem", authtest.PublicPEM(t, k.Ed.Public()))
	keys, err := auth.ParseKeyFiles(" 2024-01=" + rsaPath + " , " + edPath + ",")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].ID != "2024-01" || keys[1].ID != "" {
		t.Fatalf("keys %+v", keys)
	}
	missing := filepath.Join(t.TempDir(), "nope.pem")
	for _, tc := range []struct{ spec, want string }{
		{missing, "nope.pem"},
		{"a=" + rsaPath + ",a=" + edPath, `key id "a" is used twice`},
		{"kid=", "no file path"},
		{authtest.WriteFile(t, "bad.pem", []byte("hello")), "bad.pem: no PEM block"},
	} {
		if _, err := auth.ParseKeyFiles(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeyFiles(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}
