package triggers

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteApplied writes what a run did, for people: where the rules came from, one line per
// file (applied, unchanged, replaced — with what it replaced — and live only), and a summary.
// A run that kept live definitions it would have replaced (KeepDifferent) says so instead.
func (r *Report) WriteApplied(w io.Writer) {
	fmt.Fprintf(w, "rules from the %s, %d files:\n", r.Origin, len(r.Files))
	for _, f := range r.Files {
		fmt.Fprintf(w, "  %-10s %s%s\n", f.Outcome, f.Name, r.appliedDetail(f))
	}
	for _, l := range r.LiveOnly {
		fmt.Fprintf(w, "  %-10s %s: %s; not in these rules, left as it is\n", "live only", l.Name, recordSummary(l))
	}
	if !r.Committed {
		fmt.Fprintf(w, "rules not applied: %s would replace live definitions (nothing was changed)\n", strings.Join(r.Names(Replaced), ", "))
		return
	}
	fmt.Fprintf(w, "rules applied: %d applied, %d replaced, %d unchanged\n", r.Count(Applied), r.Count(Replaced), r.Count(Unchanged))
}

func (r *Report) appliedDetail(f FileReport) string {
	replaced := f.Replacements()
	if len(replaced) == 0 {
		return ""
	}
	kept := ""
	if r.Committed {
		kept = "; the previous definitions are kept in realtime.rule_history"
	}
	return fmt.Sprintf(": %s (%s)%s", describe(replaced), f.liveSummary(replaced), kept)
}

// WriteDiff writes the live rules against the source, for people: one line per file (same,
// differs, not live, live only), then for each file that differs how each of its functions
// and triggers differs (a unified diff, live first; the report needs Options.Definitions).
func (r *Report) WriteDiff(w io.Writer) {
	fmt.Fprintf(w, "live rules against the %s (%d files):\n", r.Origin, len(r.Files))
	for _, f := range r.Files {
		switch f.Outcome {
		case Unchanged:
			fmt.Fprintf(w, "  %-10s %s\n", "same", f.Name)
		case Applied:
			fmt.Fprintf(w, "  %-10s %s: would create %s\n", "not live", f.Name, joinObjectNames(f.Changes))
		case Replaced:
			fmt.Fprintf(w, "  %-10s %s: %s (%s)\n", "differs", f.Name, describe(f.Replacements()), f.liveSummary(f.Replacements()))
		}
	}
	for _, l := range r.LiveOnly {
		fmt.Fprintf(w, "  %-10s %s: %s; not in this source\n", "live only", l.Name, recordSummary(l))
	}
	for _, f := range r.Files {
		for _, c := range f.Replacements() {
			fmt.Fprintf(w, "\n%s, %s:\n--- live\n+++ %s\n%s", f.Name, c.Object(), r.Origin, unifiedDiff(c.Before.Definition, c.After.Definition))
		}
	}
	if r.Identical() {
		fmt.Fprintln(w, "the live rules are identical to the source")
	}
}

// describe says what replacements do: "replaces realtime.rule_tasks(), drops trigger x on
// public.y".
func describe(changes []Change) string {
	var replaced, dropped []Change
	for _, c := range changes {
		if c.Action == Dropped {
			dropped = append(dropped, c)
		} else {
			replaced = append(replaced, c)
		}
	}
	var parts []string
	if len(replaced) > 0 {
		parts = append(parts, "replaces "+joinObjectNames(replaced))
	}
	if len(dropped) > 0 {
		parts = append(parts, "drops "+joinObjectNames(dropped))
	}
	return strings.Join(parts, ", ")
}

// liveSummary says where the live version of the file came from, and whether its definitions
// were changed in the database after that.
func (f FileReport) liveSummary(changes []Change) string {
	if f.Live == nil {
		return "live version not recorded"
	}
	s := "live: " + recordSummary(*f.Live)
	for _, c := range changes {
		if f.EditedInDatabase(c) {
			return s + "; changed in the database since"
		}
	}
	return s
}

func recordSummary(r Record) string {
	return fmt.Sprintf("applied %s from the %s", r.AppliedAt.UTC().Format(time.DateTime+" UTC"), r.Source)
}
