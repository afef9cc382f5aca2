package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// jwk is one JSON Web Key (RFC 7517) as published in a JWKS document; only the public parts
// are read.
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// parseJWKS decodes a JWKS document ({"keys":[…]}). Keys that cannot verify signatures
// (encryption keys, unsupported types or curves, weak RSA) are skipped and reported in skipped;
// a document without a single usable key is an error.
func parseJWKS(body []byte) (keys []PublicKey, skipped []string, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("not a JWKS document: %w", err)
	}
	for i, raw := range doc.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		pk, err := k.publicKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d (kid %q): %v", i, k.Kid, err))
			continue
		}
		keys = append(keys, pk)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("no usable signing key among %d keys", len(doc.Keys))
	}
	return keys, skipped, nil
}

func (k *jwk) publicKey() (PublicKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return PublicKey{}, fmt.Errorf("use %q is not sig", k.Use)
	}
	if len(k.KeyOps) > 0 && !slices.Contains(k.KeyOps, "verify") {
		return PublicKey{}, errors.New("key_ops does not include verify")
	}
	var (
		key crypto.PublicKey
		err error
	)
	switch k.Kty {
	case "RSA":
		key, err = k.rsa()
	case "EC":
		key, err = k.ecdsa()
	case "OKP":
		key, err = k.ed25519()
	default:
		return PublicKey{}, fmt.Errorf("unsupported kty %q", k.Kty)
	}
	if err != nil {
		return PublicKey{}, err
	}
	if err := checkKey(key); err != nil {
		return PublicKey{}, err
	}
	pk := PublicKey{ID: k.Kid, Key: key, Alg: k.Alg}
	if k.Alg != "" && len(pk.Algorithms()) == 0 {
		return PublicKey{}, fmt.Errorf("alg %q does not fit a %s key", k.Alg, k.Kty)
	}
	return pk, nil
}

func (k *jwk) rsa() (*rsa.PublicKey, error) {
	n, err := b64Int(k.N, "n")
	if err != nil {
		return nil, err
	}
	e, err := b64Int(k.E, "e")
	if err != nil {
		return nil, err
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, errors.New("bad RSA exponent")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func (k *jwk) ecdsa() (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch k.Crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", k.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err := b64Fixed(k.X, "x", size)
	if err != nil {
		return nil, err
	}
	y, err := b64Fixed(k.Y, "y", size)
	if err != nil {
		return nil, err
	}
	point := append(append([]byte{4}, x...), y...)
	key, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("bad EC point: %w", err)
	}
	return key, nil
}

func (k *jwk) ed25519() (ed25519.PublicKey, error) {
	if k.Crv != "Ed25519" {
		return nil, fmt.Errorf("unsupported OKP curve %q", k.Crv)
	}
	x, err := b64Fixed(k.X, "x", ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	return ed25519.PublicKey(x), nil
}

func b64Int(s, name string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("bad %s", name)
	}
	return new(big.Int).SetBytes(b), nil
}

func b64Fixed(s, name string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("bad %s (want %d bytes)", name, size)
	}
	return b, nil
}
