package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/limits"
	"github.com/realtimed/realtimed/router"
)

// minSecretBytes is the HMAC secret length below which a warning is logged (RFC 7518 wants
// at least the hash size: 32 bytes for HS256).
const minSecretBytes = 32

// authParts are the authentication pieces built from the configuration.
type authParts struct {
	verifier *auth.Verifier
	sessions *auth.SessionVerifier
	jwks     *auth.JWKS // nil without REALTIME_JWKS_URL
}

func newAuth(cfg config.Config, pool *pgxpool.Pool, log logrus.FieldLogger) (*authParts, error) {
	a := &authParts{sessions: auth.NewSessionVerifier(pool, cfg.SessionQuery)}
	a.verifier = &auth.Verifier{Sessions: a.sessions}
	var secrets [][]byte
	for _, s := range append([]string{cfg.JWTSecret}, cfg.JWTPreviousSecrets...) {
		if s == "" {
			continue
		}
		if len(s) < minSecretBytes {
			log.Warnf("auth: an HMAC secret is shorter than %d bytes; use a long random one (openssl rand -base64 48)", minSecretBytes)
		}
		secrets = append(secrets, []byte(s))
	}
	if cfg.JWKSURL != "" {
		jwks, err := auth.NewJWKS(auth.JWKSConfig{URL: cfg.JWKSURL, Timeout: cfg.JWKSTimeout, Refresh: cfg.JWKSRefresh,
			MinInterval: cfg.JWKSMinInterval, Logger: log})
		if err != nil {
			return nil, &config.InvalidError{Err: fmt.Errorf("config: REALTIME_JWKS_URL: %w", err)}
		}
		a.jwks = jwks
	}
	if len(secrets) == 0 && len(cfg.JWTPublicKeys) == 0 && a.jwks == nil {
		log.Info("auth: JWTs disabled (no secret, public key or JWKS configured); session tokens only")
		return a, nil
	}
	jv, err := auth.NewJWTVerifier(auth.JWTConfig{
		Secrets: secrets, Keys: cfg.JWTPublicKeys, JWKS: a.jwks,
		Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, UserClaim: cfg.JWTUserClaim, Leeway: cfg.JWTLeeway,
	})
	if err != nil {
		return nil, &config.InvalidError{Err: err}
	}
	a.verifier.JWT = jv
	log.WithFields(logrus.Fields{"algorithms": jv.Algorithms(), "public_keys": len(cfg.JWTPublicKeys), "jwks": cfg.JWKSURL,
		"issuer": cfg.JWTIssuer, "audience": cfg.JWTAudience, "user_claim": cfg.JWTUserClaim}).Info("auth: JWTs enabled")
	return a, nil
}

// checkSessions checks the session query against the database: a query that cannot work is a
// configuration error; the default one without a sessions table disables session tokens.
func (a *authParts) checkSessions(ctx context.Context, log logrus.FieldLogger) error {
	err := a.sessions.Check(ctx)
	switch {
	case errors.Is(err, auth.ErrNoSessionTable):
		a.verifier.Sessions = nil
		log.Warn("auth: session tokens disabled: no sessions table (set REALTIME_SESSION_QUERY for your schema)")
		return nil
	case err != nil:
		return &config.InvalidError{Err: fmt.Errorf("config: REALTIME_SESSION_QUERY: %w", err)}
	}
	return nil
}

// handshakeLimiter returns the Engine.IO handshake hook for the per-address rate (nil: none).
func handshakeLimiter(cfg config.Config) func(*http.Request) error {
	if cfg.HandshakeRate <= 0 {
		return nil
	}
	return limits.NewIPRateLimiter(limits.IPRateConfig{
		Rate: cfg.HandshakeRate, Burst: cfg.HandshakeBurst, TrustedProxies: cfg.TrustedProxies,
	}).AllowRequest
}

func routerOptions(cfg config.Config) []router.Option {
	return []router.Option{router.AllowQueryToken(cfg.AllowQueryToken), router.MaxConnectionsPerUser(cfg.MaxConnsPerUser)}
}
