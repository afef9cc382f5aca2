package auth

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures JWT verification. Each algorithm is enabled only when a key for it is
// configured: HS256/384/512 by Secrets; RS*/PS* by RSA keys, ES256/384/512 by ECDSA keys on
// the matching curve, EdDSA by Ed25519 keys, in Keys or in the JWKS. `none` never is.
type JWTConfig struct {
	// Secret is one HMAC secret, tried before Secrets (a shorthand for the common case).
	Secret []byte
	// Secrets are HMAC secrets, each accepted (the current one first, then those being
	// rotated out).
	Secrets [][]byte
	// Keys are public keys (PEM files).
	Keys []PublicKey
	// JWKS is a remote key set. Nil: none.
	JWKS *JWKS
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must contain one of the token's aud values.
	Audience []string
	// UserClaim names the claim holding the user id. Empty means "sub".
	UserClaim string
	// Leeway tolerates clock skew on exp, nbf and iat. Zero means none.
	Leeway time.Duration
	// AllowNoExpiry accepts tokens without exp. By default they are refused.
	AllowNoExpiry bool
	// Now is the clock (tests). Nil means time.Now.
	Now func() time.Time
}

// maxUserIDBytes bounds the user id taken from a token (it names a room).
const maxUserIDBytes = 256

var (
	errUnknownKey = &Error{Code: CodeInvalidToken, Message: "unknown signing key (kid)"}
	errNoKey      = errors.New("no key configured")
)

// JWTVerifier verifies JWTs against the configured secrets and keys.
type JWTVerifier struct {
	cfg    JWTConfig
	parser *jwt.Parser
	hmac   any       // jwt.VerificationKeySet of the secrets, nil without secrets
	keys   *keyIndex // static public keys, nil without
	algs   []string
}

// NewJWTVerifier returns a verifier for cfg, or an error when cfg enables no algorithm.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	v := &JWTVerifier{cfg: cfg}
	if secrets := nonEmpty(append([][]byte{cfg.Secret}, cfg.Secrets...)); len(secrets) > 0 {
		v.hmac = jwt.VerificationKeySet{Keys: secrets}
		v.algs = append(v.algs, HMACAlgorithms...)
	}
	if len(cfg.Keys) > 0 {
		for _, k := range cfg.Keys {
			if err := checkKey(k.Key); err != nil {
				return nil, fmt.Errorf("auth: key %q: %w", k.ID, err)
			}
			v.algs = appendNew(v.algs, k.Algorithms()...)
		}
		v.keys = newKeyIndex(cfg.Keys)
	}
	if cfg.JWKS != nil {
		v.algs = appendNew(v.algs, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
	}
	if len(v.algs) == 0 {
		return nil, fmt.Errorf("auth: JWT verification: %w (a secret, a public key or a JWKS URL)", errNoKey)
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(v.algs), jwt.WithLeeway(cfg.Leeway), jwt.WithIssuedAt()}
	if !cfg.AllowNoExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Algorithms returns the enabled algorithms.
func (v *JWTVerifier) Algorithms() []string { return slices.Clone(v.algs) }

func nonEmpty(secrets [][]byte) []jwt.VerificationKey {
	var out []jwt.VerificationKey
	for _, s := range secrets {
		if len(s) > 0 {
			out = append(out, s)
		}
	}
	return out
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}

// Verify checks the token's algorithm, signature, validity period, issuer and audience and
// returns its user.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Identity, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) { return v.key(ctx, t) })
	if err != nil {
		return nil, classifyJWTError(err)
	}
	user, err := userID(claims, v.cfg.UserClaim)
	if err != nil {
		return nil, err
	}
	id := &Identity{UserID: user, Method: MethodJWT}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	return id, nil
}

// key picks the keys for a token by its header. The algorithm has already been checked
// against the enabled ones, and every key is indexed only under the algorithms of its own
// type, so an HMAC token is only ever checked with the secrets and an RSA, ECDSA or Ed25519
// token only with public keys of that type.
func (v *JWTVerifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, &Error{Code: CodeInvalidToken, Message: "token has critical header parameters (crit) that are not supported"}
	}
	alg := t.Method.Alg()
	if slices.Contains(HMACAlgorithms, alg) {
		if v.hmac == nil {
			return nil, errUnknownKey
		}
		return v.hmac, nil
	}
	kid := ""
	if raw, ok := t.Header["kid"]; ok {
		s, isString := raw.(string)
		if !isString {
			return nil, &Error{Code: CodeInvalidToken, Message: "token kid is not a string"}
		}
		kid = s
	}
	static := v.keys.find(alg, kid)
	if v.cfg.JWKS == nil || (kid != "" && v.keys.hasKid(kid)) {
		if static == nil {
			return nil, errUnknownKey
		}
		return static, nil // a key of ours carries this kid: no need to ask the JWKS
	}
	// With a candidate of our own, do not make the handshake wait for a JWKS fetch.
	remote, err := v.cfg.JWKS.lookup(ctx, alg, kid, static == nil)
	if remote == nil && static == nil {
		return nil, err
	}
	return merge(static, remote), nil
}

// userID reads the user id claim: a non-empty string, or an integer number.
func userID(claims jwt.MapClaims, name string) (string, error) {
	var user string
	switch u := claims[name].(type) {
	case string:
		user = u
	case float64:
		if u == math.Trunc(u) && math.Abs(u) < 1<<53 {
			user = strconv.FormatInt(int64(u), 10)
		}
	}
	if user == "" {
		return "", &Error{Code: CodeInvalidToken, Message: fmt.Sprintf("token has no %q claim with the user id", name)}
	}
	if len(user) > maxUserIDBytes {
		return "", &Error{Code: CodeInvalidToken, Message: fmt.Sprintf("token %q claim is too long", name)}
	}
	return user, nil
}

// classifyJWTError maps a parse/verify failure to the code and message clients see.
func classifyJWTError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae // from key selection: unknown kid, key set unavailable, crit
	}
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return &Error{Code: CodeExpired, Message: "token expired", Err: err}
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return &Error{Code: CodeNotYetValid, Message: "token not valid yet", Err: err}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return &Error{Code: CodeInvalidToken, Message: missingClaimMessage(err), Err: err}
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return &Error{Code: CodeInvalidToken, Message: "token issuer (iss) is not accepted", Err: err}
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return &Error{Code: CodeInvalidToken, Message: "token audience (aud) is not accepted", Err: err}
	case errors.Is(err, jwt.ErrTokenMalformed):
		return &Error{Code: CodeInvalidToken, Message: "token is malformed", Err: err}
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return &Error{Code: CodeInvalidToken, Message: "token algorithm not allowed", Err: err}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && isMethodError(err):
		return &Error{Code: CodeInvalidToken, Message: "token algorithm not allowed", Err: err}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return &Error{Code: CodeInvalidToken, Message: "token signature is invalid", Err: err}
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return &Error{Code: CodeInvalidToken, Message: "token claims are invalid", Err: err}
	}
	return &Error{Code: CodeInvalidToken, Message: "token is malformed", Err: err}
}

// missingClaimMessage names the required claim a token lacks (the parser says it in words).
func missingClaimMessage(err error) string {
	switch msg := err.Error(); {
	case strings.Contains(msg, "iss claim"):
		return "token has no issuer (iss)"
	case strings.Contains(msg, "aud claim"):
		return "token has no audience (aud)"
	}
	return "token has no expiry (exp)"
}

// isMethodError recognises the parser's "signing method X is invalid" (an algorithm outside
// the allow-list), which carries no sentinel of its own.
func isMethodError(err error) bool { return strings.Contains(err.Error(), "signing method") }

// Sign issues an HS256 token for user valid for ttl, with extra claims (iss, aud, …), for
// development and tests.
func Sign(secret []byte, user string, ttl time.Duration, extra map[string]any) (string, error) {
	now := time.Now()
	claims := jwt.MapClaims{"sub": user, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range extra {
		claims[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return s, nil
}

// SignHS256 issues a token for user valid for ttl, for development and tests.
func SignHS256(secret []byte, user string, ttl time.Duration) (string, error) {
	return Sign(secret, user, ttl, nil)
}
