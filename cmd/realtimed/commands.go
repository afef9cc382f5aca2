package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/demo"
	"github.com/realtimed/realtimed/migrations"
	"github.com/realtimed/realtimed/server"
)

// serve checks the whole configuration and the listen address, waits for the database,
// migrates and applies the rules (as configured) and serves, in that order: a wrong setting
// or a taken port stops it before anything touches the database.
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
	if err := checkListen(cfg.Addr); err != nil {
		return err
	}
	if err := cfg.DB.Wait(ctx, cfg.DBWait, log); err != nil {
		return err
	}
	if err := srv.Prepare(ctx); err != nil {
		return err
	}
	return srv.Run(ctx)
}

// checkListen opens and closes the listen address, so that a taken port or a missing
// permission stops the start before the database is waited for and changed.
func checkListen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("REALTIME_ADDR %s: %w", addr, err)
	}
	return ln.Close()
}

// loadWithDatabase is load for commands that need the database: it must be configured, and
// is waited for (REALTIME_DB_WAIT).
func loadWithDatabase(ctx context.Context, args []string) (config.Config, *logrus.Logger, error) {
	cfg, log, err := load(args)
	if err != nil {
		return cfg, log, err
	}
	if err := cfg.RequireDatabase(); err != nil {
		return cfg, log, usageError{err}
	}
	return cfg, log, cfg.DB.Wait(ctx, cfg.DBWait, log)
}

// migrate applies, rolls back or shows the migrations, printing each version it applies or
// rolls back ("up to date" only for a set that had nothing pending).
func migrate(ctx context.Context, args []string) error {
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
	if action != "up" && action != "down" && action != "version" {
		return usageError{fmt.Errorf("migrate: unknown action %q (up, down, version)", action)}
	}
	cfg, _, err := loadWithDatabase(ctx, args)
	if err != nil {
		return err
	}
	sets := migrations.Sets(cfg.ReferenceSchema)
	done := map[string]bool{}
	report := func(s migrations.Step) {
		done[s.Set] = true
		verb := "applied"
		if s.Down {
			verb = "rolled back"
		}
		fmt.Printf("%s: %s %d %s\n", s.Set, verb, s.Version, s.Name)
	}
	switch action {
	case "up":
		err = migrations.UpReporting(cfg.DatabaseURL, report, sets...)
	case "down":
		err = migrations.DownReporting(cfg.DatabaseURL, steps, report, sets...)
	}
	if err != nil {
		return err
	}
	for _, set := range sets {
		v, dirty, err := migrations.Version(cfg.DatabaseURL, set)
		if err != nil {
			return err
		}
		state := fmt.Sprintf("version %d", v)
		if dirty {
			state += " (dirty)"
		}
		switch {
		case action == "up" && !done[set.Name]:
			fmt.Printf("%s: up to date at %s\n", set.Name, state)
		case action == "down" && !done[set.Name]:
			fmt.Printf("%s: nothing to roll back (%s)\n", set.Name, state)
		default:
			fmt.Printf("%s: %s\n", set.Name, state)
		}
	}
	return nil
}

func seedDemo(ctx context.Context, args []string) error {
	cfg, _, err := loadWithDatabase(ctx, args)
	if err != nil {
		return err
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
