package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

// MinRSABits is the smallest RSA modulus accepted for a verification key.
const MinRSABits = 2048

// HMACAlgorithms are the JWT algorithms verified with a shared secret.
var HMACAlgorithms = []string{"HS256", "HS384", "HS512"}

// PublicKey verifies JWT signatures: an RSA key (RS256/384/512, PS256/384/512), an ECDSA key
// (ES256 on P-256, ES384 on P-384, ES512 on P-521) or an Ed25519 key (EdDSA).
type PublicKey struct {
	// ID is the key id tokens name it by in their kid header. A key without one is tried for
	// every token whose kid no other key claims.
	ID string
	// Key is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Key crypto.PublicKey
	// Alg, when set (a JWK's alg), restricts the key to that one algorithm.
	Alg string
}

// Algorithms returns the JWT algorithms this key verifies.
func (k PublicKey) Algorithms() []string {
	all := algorithmsOf(k.Key)
	if k.Alg == "" {
		return all
	}
	for _, a := range all {
		if a == k.Alg {
			return []string{a}
		}
	}
	return nil
}

// algorithmsOf maps a key type to the algorithms that may use it, so that a token can never
// make the verifier use a key with another family's algorithm (e.g. an RSA key as an HMAC
// secret).
func algorithmsOf(key crypto.PublicKey) []string {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}
		case elliptic.P384():
			return []string{"ES384"}
		case elliptic.P521():
			return []string{"ES512"}
		}
	case ed25519.PublicKey:
		return []string{"EdDSA"}
	}
	return nil
}

// checkKey refuses key types and sizes that are not safe or not supported.
func checkKey(key crypto.PublicKey) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return fmt.Errorf("RSA key of %d bits is too small (at least %d)", k.N.BitLen(), MinRSABits)
		}
		return nil
	case *ecdsa.PublicKey:
		if len(algorithmsOf(k)) == 0 {
			return fmt.Errorf("ECDSA curve %s is not supported (P-256, P-384, P-521)", k.Curve.Params().Name)
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return errors.New("Ed25519 key has the wrong size")
		}
		return nil
	}
	return fmt.Errorf("unsupported key type %T (RSA, ECDSA or Ed25519 public keys)", key)
}

// ParsePublicKeyPEM parses a public key from PEM: a "PUBLIC KEY" (PKIX/SPKI), an "RSA PUBLIC
// KEY" (PKCS#1) or a "CERTIFICATE" (its public key). A private key is refused with a hint.
func ParsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found (expected -----BEGIN PUBLIC KEY-----)")
	}
	var (
		key crypto.PublicKey
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		if strings.Contains(block.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("is a %s: configure the public key instead (openssl pkey -pubout)", block.Type)
		}
		return nil, fmt.Errorf("unexpected PEM block %q (expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// ParseKeyFiles reads the verification keys named by spec: comma-separated PEM file paths,
// each optionally prefixed with its key id as kid=path. Errors name the file.
func ParseKeyFiles(spec string) ([]PublicKey, error) {
	var keys []PublicKey
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		kid, path, ok := strings.Cut(item, "=")
		if !ok {
			kid, path = "", item
		}
		kid, path = strings.TrimSpace(kid), strings.TrimSpace(path)
		if path == "" {
			return nil, fmt.Errorf("%q: no file path", item)
		}
		if kid != "" && seen[kid] {
			return nil, fmt.Errorf("key id %q is used twice", kid)
		}
		seen[kid] = true
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		key, err := ParsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		keys = append(keys, PublicKey{ID: kid, Key: key})
	}
	return keys, nil
}
