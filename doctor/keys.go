package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// minSecretBytes is the HMAC secret length below which the keys check warns (RFC 7518: at
// least the hash size, 32 bytes for HS256), as the server does at start.
const minSecretBytes = 32

func init() {
	// The JWKS fetch has its own time limit (REALTIME_JWKS_TIMEOUT).
	Register(Check{Name: "keys", Order: 40, Timeout: 30 * time.Second, Run: checkKeys})
	Register(Check{Name: "sessions", Order: 45, NeedsDatabase: true, Run: checkSessions})
}

// checkKeys loads the JWT secrets, PEM keys and JWKS as a node does.
func checkKeys(ctx context.Context, env *Env) Result {
	cfg := env.Config
	tokens, err := env.Tokens(ctx)
	if err != nil {
		return Failf("%v", err)
	}
	if tokens.JWT == nil {
		return Warnf("JWTs are off: no REALTIME_JWT_SECRET, REALTIME_JWT_PUBLIC_KEYS or REALTIME_JWKS_URL (session tokens only)")
	}
	var parts []string
	res := Result{Status: OK}
	if cfg.JWTSecret != "" || len(cfg.JWTPreviousSecrets) > 0 {
		n := len(cfg.JWTPreviousSecrets)
		if cfg.JWTSecret != "" {
			n++
		}
		parts = append(parts, fmt.Sprintf("%d HMAC secret(s)", n))
		for _, s := range append([]string{cfg.JWTSecret}, cfg.JWTPreviousSecrets...) {
			if s != "" && len(s) < minSecretBytes {
				res.Status = Warning
				parts = append(parts, fmt.Sprintf("one is shorter than %d bytes (use openssl rand -base64 48)", minSecretBytes))
				break
			}
		}
	}
	if len(cfg.JWTPublicKeys) > 0 {
		parts = append(parts, fmt.Sprintf("%d PEM public key(s)", len(cfg.JWTPublicKeys)))
	}
	if tokens.JWKS != nil {
		switch {
		case tokens.JWKSErr != nil:
			return Failf("JWKS %s could not be fetched: %v", cfg.JWKSURL, tokens.JWKSErr)
		case tokens.JWKS.Len() == 0:
			return Failf("JWKS %s holds no usable key", cfg.JWKSURL)
		}
		parts = append(parts, fmt.Sprintf("JWKS %s with %d key(s)", cfg.JWKSURL, tokens.JWKS.Len()))
	}
	res.Message = fmt.Sprintf("JWTs with %s: %s", strings.Join(tokens.JWT.Algorithms(), " "), strings.Join(parts, ", "))
	return res
}

// checkSessions checks the session query against the database.
func checkSessions(ctx context.Context, env *Env) Result {
	tokens, err := env.Tokens(ctx)
	switch {
	case err != nil:
		return Failf("%v", err)
	case tokens.Sessions:
		return Passf("session tokens looked up with %s", oneLine(tokens.SessionQuery))
	case tokens.JWT == nil:
		return Failf("no way to authenticate: JWTs are off and there is no sessions table (set REALTIME_SESSION_QUERY, or a JWT key)")
	}
	return Warnf("session tokens are off: the default query finds no sessions table (set REALTIME_SESSION_QUERY for your schema)")
}

// oneLine squeezes a query's white space, for a report line.
func oneLine(sql string) string { return strings.Join(strings.Fields(sql), " ") }
