package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/realtimed/realtimed/auth"
	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/demo"
	"github.com/realtimed/realtimed/migrations"
	"github.com/realtimed/realtimed/server"
)

func serve(ctx context.Context, args []string) error {
	cfg, log, err := load(args)
	if err != nil {
		return err
	}
	if err := cfg.RequireDatabase(); err != nil {
		return usageError{err}
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := srv.Prepare(ctx); err != nil {
		return err
	}
	return srv.Run(ctx)
}

func migrate(args []string) error {
	if len(args) == 0 {
		return usageError{errors.New("migrate: expected up, down [N] or version")}
	}
	action, args := args[0], args[1:]
	steps := 1
	if action == "down" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		n, err := strconv.Atoi(args[0])
		if err != nil || n <= 0 {
			return usageError{fmt.Errorf("migrate down: %q is not a positive number of steps", args[0])}
		}
		steps, args = n, args[1:]
	}
	cfg, _, err := load(args)
	if err != nil {
		return err
	}
	if err := cfg.RequireDatabase(); err != nil {
		return usageError{err}
	}
	sets := migrations.Sets(cfg.ReferenceSchema)
	switch action {
	case "up":
		if err := migrations.Up(cfg.DatabaseURL, sets...); err != nil {
			return err
		}
		fmt.Println("migrations: up to date")
	case "down":
		return migrations.Down(cfg.DatabaseURL, steps, sets...)
	case "version":
		for _, set := range sets {
			v, dirty, err := migrations.Version(cfg.DatabaseURL, set)
			if err != nil {
				return err
			}
			fmt.Printf("%s: version %d%s\n", set.Name, v, map[bool]string{true: " (dirty)"}[dirty])
		}
	default:
		return usageError{fmt.Errorf("migrate: unknown action %q (up, down, version)", action)}
	}
	return nil
}

func applyTriggers(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "apply" {
		return usageError{errors.New("triggers: expected apply")}
	}
	cfg, _, err := load(args[1:])
	if err != nil {
		return err
	}
	if err := cfg.RequireDatabase(); err != nil {
		return usageError{err}
	}
	names, err := server.ApplyTriggers(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("rules applied: %s\n", strings.Join(names, ", "))
	return nil
}

func token(args []string) error {
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

func seedDemo(ctx context.Context, args []string) error {
	cfg, _, err := load(args)
	if err != nil {
		return err
	}
	if err := cfg.RequireDatabase(); err != nil {
		return usageError{err}
	}
	conn, err := cfg.DB.Connect(ctx, "realtimed-demo")
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	fam, err := demo.Seed(ctx, conn)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(fam)
}

// ready asks the node listening on the configured address whether it is ready: the image's
// health check (distroless images have no shell or curl).
func ready(args []string) error {
	cfg, err := config.Load(os.Getenv, args)
	if err != nil {
		return usageError{err}
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return usageError{fmt.Errorf("ready: REALTIME_ADDR %q: %w", cfg.Addr, err)}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client, scheme := &http.Client{Timeout: 3 * time.Second}, "http"
	if cfg.TLSCert != "" {
		// Our own process on loopback: its certificate names the public host, not 127.0.0.1,
		// and nothing secret is sent, so the probe does not verify it.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec
		scheme = "https"
	}
	res, err := client.Get(scheme + "://" + net.JoinHostPort(host, port) + "/readyz")
	if err != nil {
		return fmt.Errorf("ready: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("ready: not ready (%d): %s", res.StatusCode, strings.TrimSpace(string(body)))
	}
	fmt.Print(string(body))
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
