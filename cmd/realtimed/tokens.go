package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/server"
)

// token signs a development token (token --user ID), or verifies one (token verify TOKEN).
func token(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "verify" {
		return verifyToken(ctx, args[1:])
	}
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	user := fs.String("user", "", "user id (the sub claim)")
	ttl := fs.Duration("ttl", time.Hour, "validity")
	build := config.Flags(fs, os.Getenv)
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Errorf("token: %w", err)}
	}
	cfg, err := build()
	if err != nil {
		return usageError{err}
	}
	if *user == "" {
		return usageError{errors.New("token: --user is required")}
	}
	if cfg.JWTSecret == "" {
		return usageError{errors.New("token: REALTIME_JWT_SECRET (or --jwt-secret) is required to sign tokens")}
	}
	t, err := auth.Sign([]byte(cfg.JWTSecret), *user, *ttl, tokenClaims(cfg, *user))
	if err != nil {
		return err
	}
	fmt.Println(t)
	return nil
}

// tokenClaims are the claims a development token needs to pass this configuration's checks.
func tokenClaims(cfg config.Config, user string) map[string]any {
	extra := map[string]any{}
	if cfg.JWTIssuer != "" {
		extra["iss"] = cfg.JWTIssuer
	}
	if len(cfg.JWTAudience) > 0 {
		extra["aud"] = cfg.JWTAudience[0]
	}
	if cfg.JWTUserClaim != "" && cfg.JWTUserClaim != "sub" {
		extra[cfg.JWTUserClaim] = user
	}
	return extra
}

// errRefused makes `token verify` exit 1 after it has said why.
var errRefused = errors.New("token refused")

// verifyToken says whether the configured keys (and session query) accept a token, with the
// verifier a node uses, and why not: the verifier's reason, what the token says (its header
// and claims, never the token) and what the configuration expects.
func verifyToken(ctx context.Context, args []string) error {
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && args[0] != "-") {
		return usageError{errors.New("token verify: expected the token, or - to read it from standard input")}
	}
	tok, args := args[0], args[1:]
	if tok == "-" {
		line, err := bufio.NewReader(io.LimitReader(os.Stdin, 64<<10)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("token verify: reading the token: %w", err)
		}
		tok = line
	}
	tok = strings.TrimSpace(tok)
	cfg, log, err := load(args)
	if err != nil {
		return err
	}
	// The database is needed only to look a session token up.
	var pool *pgxpool.Pool
	if cfg.DB != nil && !auth.LooksLikeJWT(tok) {
		if err := cfg.DB.Wait(ctx, 0, log); err != nil {
			return err
		}
		if pool, err = cfg.DB.NewPool(ctx, "realtimed-token", 1); err != nil {
			return err
		}
		defer pool.Close()
	}
	tokens, err := server.NewTokens(ctx, cfg, pool)
	if err != nil {
		return err
	}
	if tokens.JWKSErr != nil {
		fmt.Printf("note: the JWKS %s could not be fetched: %v\n", cfg.JWKSURL, tokens.JWKSErr)
	}
	id, err := tokens.Verifier.Verify(ctx, tok)
	if err == nil {
		fmt.Printf("accepted: user %s (%s%s)\n", id.UserID, id.Method, expiry(id.ExpiresAt))
		return nil
	}
	var ae *auth.Error
	if !errors.As(err, &ae) {
		return err
	}
	reason := ae.Message
	if ae.Err != nil {
		reason += " (" + ae.Err.Error() + ")"
	}
	fmt.Printf("refused: %s: %s\n", ae.Code, reason)
	if auth.LooksLikeJWT(tok) {
		fmt.Println("token: " + describeJWT(tok))
	} else if !tokens.Sessions {
		fmt.Println("token: not a JWT, and session tokens are not checked here (" + sessionsOff(cfg, pool) + ")")
	}
	fmt.Println("configured: " + describeConfig(cfg, tokens))
	return errRefused
}

func expiry(at time.Time) string {
	if at.IsZero() {
		return ", does not expire"
	}
	return fmt.Sprintf(", expires %s, in %s", at.UTC().Format(time.DateTime+" UTC"), time.Until(at).Round(time.Second))
}

func sessionsOff(cfg config.Config, pool *pgxpool.Pool) string {
	if pool == nil {
		return "no DATABASE_URL"
	}
	return "no sessions table; set REALTIME_SESSION_QUERY"
}

// describeJWT reads a JWT's header and claims without verifying it: what it says about
// itself, to compare with the configuration.
func describeJWT(tok string) string {
	claims := jwt.MapClaims{}
	t, _, err := jwt.NewParser().ParseUnverified(tok, claims)
	if err != nil {
		return "not a readable JWT: " + err.Error()
	}
	parts := []string{fmt.Sprintf("alg %v", t.Header["alg"])}
	if kid, ok := t.Header["kid"]; ok {
		parts = append(parts, fmt.Sprintf("kid %v", kid))
	}
	keys := make([]string, 0, len(claims))
	for k := range claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := claims[k]
		if f, ok := v.(float64); ok && (k == "exp" || k == "nbf" || k == "iat") {
			at := time.Unix(int64(f), 0)
			v = fmt.Sprintf("%s (%s)", at.UTC().Format(time.DateTime+" UTC"), relative(at))
		}
		parts = append(parts, fmt.Sprintf("%s %v", k, v))
	}
	return strings.Join(parts, ", ")
}

func relative(at time.Time) string {
	d := time.Until(at).Round(time.Second)
	if d < 0 {
		return (-d).String() + " ago"
	}
	return "in " + d.String()
}

// describeConfig says what the configuration accepts.
func describeConfig(cfg config.Config, tokens *server.Tokens) string {
	var parts []string
	if tokens.JWT != nil {
		parts = append(parts, "JWT algorithms "+strings.Join(tokens.JWT.Algorithms(), " "))
	} else {
		parts = append(parts, "no JWT keys")
	}
	if cfg.JWTIssuer != "" {
		parts = append(parts, "issuer "+cfg.JWTIssuer)
	}
	if len(cfg.JWTAudience) > 0 {
		parts = append(parts, "audience "+strings.Join(cfg.JWTAudience, " or "))
	}
	parts = append(parts, "user claim "+cfg.JWTUserClaim, "leeway "+cfg.JWTLeeway.String())
	if tokens.Sessions {
		parts = append(parts, "session tokens")
	}
	return strings.Join(parts, ", ")
}
