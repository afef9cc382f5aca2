package server

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/buildinfo"
	"github.com/realtimed/realtimed/config"
	"github.com/realtimed/realtimed/migrations"
	"github.com/realtimed/realtimed/sql/triggers"
)

// ApplyTriggers runs the configured rule files (REALTIME_TRIGGERS_DIR, or the built-in set)
// on a connection of its own, as opts says (Replace, KeepDifferent or DryRun), and reports
// what it did with each file. opts.By defaults to this host and realtimed's version.
func ApplyTriggers(ctx context.Context, cfg config.Config, opts triggers.Options) (*triggers.Report, error) {
	rules, err := triggers.Configured(cfg.TriggersDir)
	if err != nil {
		return nil, &config.InvalidError{Err: fmt.Errorf("config: REALTIME_TRIGGERS_DIR: %w", err)}
	}
	if opts.By == "" {
		opts.By = AppliedBy("")
	}
	conn, err := cfg.DB.Connect(ctx, "realtimed-rules")
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rep, err := triggers.Run(ctx, conn, rules, opts)
	if err != nil {
		hint := ""
		if cfg.TriggersDir == "" && !errors.Is(err, triggers.ErrBusy) && !errors.Is(err, triggers.ErrNotMigrated) {
			hint = " (the built-in rules need the reference schema: set REALTIME_REFERENCE_SCHEMA=true, or REALTIME_TRIGGERS_DIR to your own rules)"
		}
		return nil, fmt.Errorf("rules: %w%s", err, hint)
	}
	return rep, nil
}

// AppliedBy says who applies rules, for realtime.rule_files: the host, the command and
// realtimed's version.
func AppliedBy(command string) string {
	host, _ := os.Hostname()
	if command != "" {
		command = " " + command
	}
	return fmt.Sprintf("%s (realtimed%s, %s)", host, command, buildinfo.Get().Short())
}

// applyRules applies the rules at start. Live definitions that differ from the rule files are
// not replaced unless REALTIME_REPLACE_TRIGGERS says so: a rule edited in the database, or
// applied from another folder, is not undone by a node that starts with other files.
func (s *Server) applyRules(ctx context.Context) error {
	opts := triggers.Options{Mode: triggers.KeepDifferent, By: AppliedBy("serve")}
	if s.cfg.ReplaceTriggers {
		opts.Mode = triggers.Replace
	}
	rep, err := ApplyTriggers(ctx, s.cfg, opts)
	if err != nil {
		return err
	}
	logRules(s.log, rep)
	return nil
}

// logRules logs a run: a line with every file's outcome, a warning per file whose live
// definitions were replaced or kept, and one for live files the source lacks.
func logRules(log logrus.FieldLogger, rep *triggers.Report) {
	for _, f := range rep.Files {
		if f.Outcome != triggers.Replaced {
			continue
		}
		fields := logrus.Fields{"file": f.Name, "source": rep.Origin, "definitions": triggers.ObjectNames(f.Replacements())}
		if f.Live != nil {
			fields["live_source"], fields["live_applied_at"] = f.Live.Source, f.Live.AppliedAt
		}
		if rep.Committed {
			log.WithFields(fields).Warn("rules: live definitions replaced (the previous ones are kept in realtime.rule_history)")
		} else {
			log.WithFields(fields).Warn("rules: the live rule differs from the rule file; kept the live one")
		}
	}
	for _, l := range rep.LiveOnly {
		log.WithFields(logrus.Fields{"file": l.Name, "live_source": l.Source, "source": rep.Origin}).
			Warn("rules: a live rule file is not among the rule files; left as it is")
	}
	fields := logrus.Fields{"source": rep.Origin, "applied": rep.Names(triggers.Applied),
		"replaced": rep.Names(triggers.Replaced), "unchanged": rep.Names(triggers.Unchanged)}
	if !rep.Committed {
		log.WithFields(fields).Warn("rules not applied: the live rules differ from the rule files, serving with the live ones " +
			"(`realtimed triggers diff` shows how; `realtimed triggers apply`, or REALTIME_REPLACE_TRIGGERS=true, replaces them)")
		return
	}
	log.WithFields(fields).Info("rules applied")
}

// logMigration logs a migration applied at start.
func (s *Server) logMigration(step migrations.Step) {
	s.log.WithFields(logrus.Fields{"set": step.Set, "version": step.Version, "name": step.Name}).Info("migration applied")
}
