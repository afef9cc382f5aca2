package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures HS256 verification.
type JWTConfig struct {
	// Secret is the HMAC key. Required.
	Secret []byte
	// UserClaim names the claim holding the user id. Empty means "sub".
	UserClaim string
	// Leeway tolerates clock skew on exp and nbf. Zero means none.
	Leeway time.Duration
	// AllowNoExpiry accepts tokens without exp. By default they are refused.
	AllowNoExpiry bool
}

// JWTVerifier verifies HS256 JWTs.
type JWTVerifier struct {
	cfg    JWTConfig
	parser *jwt.Parser
}

// NewJWTVerifier returns a verifier for cfg.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if len(cfg.Secret) == 0 {
		return nil, errors.New("auth: JWT secret is empty")
	}
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"HS256"}), jwt.WithLeeway(cfg.Leeway)}
	if !cfg.AllowNoExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	return &JWTVerifier{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// Verify checks the token's signature, algorithm and validity period and returns its user.
func (v *JWTVerifier) Verify(_ context.Context, token string) (*Identity, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return v.cfg.Secret, nil })
	if err != nil {
		return nil, classifyJWTError(err)
	}
	user, ok := claims[v.cfg.UserClaim].(string)
	if !ok || user == "" {
		return nil, &Error{Code: CodeInvalidToken, Message: fmt.Sprintf("token has no %q claim", v.cfg.UserClaim)}
	}
	id := &Identity{UserID: user, Method: MethodJWT}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.ExpiresAt = exp.Time
	}
	return id, nil
}

func classifyJWTError(err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return &Error{Code: CodeExpired, Message: "token expired", Err: err}
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return &Error{Code: CodeNotYetValid, Message: "token not valid yet", Err: err}
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return &Error{Code: CodeInvalidToken, Message: "token has no expiry (exp)", Err: err}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		return &Error{Code: CodeInvalidToken, Message: "token algorithm not allowed", Err: err}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return &Error{Code: CodeInvalidToken, Message: "token signature is invalid", Err: err}
	case errors.Is(err, jwt.ErrTokenUnverifiable), errors.Is(err, jwt.ErrSignatureInvalid):
		return &Error{Code: CodeInvalidToken, Message: "token algorithm not allowed", Err: err}
	}
	return &Error{Code: CodeInvalidToken, Message: "token is malformed", Err: err}
}

// SignHS256 issues a token for user valid for ttl, for development and tests.
func SignHS256(secret []byte, user string, ttl time.Duration) (string, error) {
	now := time.Now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	})
	s, err := t.SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return s, nil
}
