// Command realtimed turns PostgreSQL changes into Socket.IO events.
//
//	realtimed [serve]                 serve (migrations and rules applied first, as configured)
//	realtimed migrate up|down [N]|version
//	realtimed triggers apply|diff     apply the rule files, or show the live rules against them
//	realtimed doctor                  check the installation, one line per check
//	realtimed token --user ID [--ttl 1h]   sign a JWT with REALTIME_JWT_SECRET (development)
//	realtimed token verify TOKEN|-    say whether the configured keys accept a token, and why not
//	realtimed demo                    seed the demo family (reference schema) and print it as JSON
//	realtimed ready                   exit 0 if the node on REALTIME_ADDR is ready (container health checks)
//	realtimed version                 the build: module version, VCS revision, Go version
//
// Configuration comes from the environment; flags override it (realtimed --help lists both).
// Exit status: 0 success, 1 runtime failure, 2 bad configuration or usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/buildinfo"
	"github.com/realtimed/realtimed/config"
)

// usageError marks errors that exit with status 2.
type usageError struct{ error }

func main() {
	err := run(os.Args[1:])
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "realtimed:", err)
	var (
		ue usageError
		ce *config.InvalidError
	)
	if errors.As(err, &ue) || errors.As(err, &ce) {
		os.Exit(2)
	}
	os.Exit(1)
}

func run(args []string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") || cmd == "help" {
		printUsage()
		return nil
	}
	if cmd == "version" || len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Println(buildinfo.Get())
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "serve":
		return serve(ctx, args)
	case "migrate":
		return migrate(ctx, args)
	case "triggers":
		return rules(ctx, args)
	case "doctor":
		return runDoctor(ctx, args)
	case "token":
		return token(ctx, args)
	case "demo":
		return seedDemo(ctx, args)
	case "ready":
		return ready(args)
	}
	return usageError{fmt.Errorf("unknown command %q (serve, migrate, triggers, doctor, token, demo, ready, version; --help for more)", cmd)}
}

// load reads the configuration from the environment and flags, and warns about REALTIME_*
// variables that no setting reads.
func load(args []string) (config.Config, *logrus.Logger, error) {
	cfg, err := config.Load(os.Getenv, args)
	if err != nil {
		return cfg, nil, usageError{err}
	}
	log := newLogger(cfg)
	for _, u := range config.Unknown(os.Environ()) {
		log.WithField("variable", u.Name).Warn(u.String())
	}
	return cfg, log, nil
}

func newLogger(cfg config.Config) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(os.Stderr)
	log.SetLevel(cfg.LogLevel)
	if cfg.LogFormat == "json" {
		log.SetFormatter(&logrus.JSONFormatter{})
	} else {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	}
	return log
}

func printUsage() {
	fmt.Print(`usage: realtimed [command] [flags]

commands:
  serve                       serve Socket.IO (default)
  migrate up|down [N]|version apply, roll back N (default 1) or show migrations
  triggers apply              apply the rule files (built in, or REALTIME_TRIGGERS_DIR), saying per file
                              whether it was applied, unchanged or replaced live definitions
  triggers diff               show the live rules against the rule files (exit 1 when they differ)
  doctor                      check database, schema, rules, keys, NOTIFY queue, open files (exit 1 on a failure)
  token --user ID [--ttl 1h]  sign a development JWT with REALTIME_JWT_SECRET
  token verify TOKEN|-        say whether the configured keys accept a token (- reads it from stdin)
  demo                        seed the demo family (needs the reference schema), print it as JSON
  ready                       exit 0 if the local node (REALTIME_ADDR) answers /readyz with 200
  version                     print the build (also --version)

configuration (environment variable, flag, default):
`)
	for _, v := range config.Vars {
		fmt.Printf("  %-26s --%-18s %q\n      %s\n", v.Env, v.Flag, v.Default, v.Help)
	}
}
