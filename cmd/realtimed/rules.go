package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/doctor"
	"github.com/realtimed/realtimed/server"
	"github.com/realtimed/realtimed/sql/triggers"
)

// rules runs `triggers apply` (apply the rule files, replacing live definitions that differ
// and saying so) or `triggers diff` (the live rules against the rule files; exit 1 when they
// differ).
func rules(ctx context.Context, args []string) error {
	if len(args) == 0 || (args[0] != "apply" && args[0] != "diff") {
		return usageError{errors.New("triggers: expected apply or diff")}
	}
	action := args[0]
	cfg, _, err := loadWithDatabase(ctx, args[1:])
	if err != nil {
		return err
	}
	opts := triggers.Options{Mode: triggers.Replace, By: server.AppliedBy("triggers apply")}
	if action == "diff" {
		opts = triggers.Options{Mode: triggers.DryRun, Definitions: true}
	}
	rep, err := server.ApplyTriggers(ctx, cfg, opts)
	if err != nil {
		return err
	}
	if action == "apply" {
		rep.WriteApplied(os.Stdout)
		return nil
	}
	rep.WriteDiff(os.Stdout)
	if !rep.Identical() {
		return fmt.Errorf("the live rules differ from the %s", rep.Origin)
	}
	return nil
}

// runDoctor checks the installation, one line per check; it fails when a check fails.
func runDoctor(ctx context.Context, args []string) error {
	cfg, err := config.Load(os.Getenv, args) // unknown variables are one of its checks
	if err != nil {
		return usageError{err}
	}
	env := &doctor.Env{Config: cfg, Environ: os.Environ()}
	defer env.Close()
	if sum := doctor.Run(ctx, env, os.Stdout); sum.Failed > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed", sum.Failed, sum.Checks)
	}
	return nil
}
