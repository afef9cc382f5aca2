package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/realtimed/realtimed/server"
	"github.com/realtimed/realtimed/sql/triggers"
)

func init() {
	// A dry run of the rules yields to application transactions for up to 30s, like an apply.
	Register(Check{Name: "rules", Order: 30, NeedsDatabase: true, Timeout: 45 * time.Second, Run: checkRules})
}

// checkRules runs the configured rule files in a transaction that is rolled back and says
// whether the live rules are the same.
func checkRules(ctx context.Context, env *Env) Result {
	rep, err := server.ApplyTriggers(ctx, env.Config, triggers.Options{Mode: triggers.DryRun})
	if err != nil {
		return Failf("could not compare the live rules with the rule files: %v", err)
	}
	if rep.Identical() {
		return Passf("the live rules are identical to the %s (%d files)", rep.Origin, len(rep.Files))
	}
	var parts []string
	for _, f := range rep.Files {
		switch f.Outcome {
		case triggers.Replaced:
			parts = append(parts, fmt.Sprintf("%s differs (%s)", f.Name, strings.Join(triggers.ObjectNames(f.Replacements()), ", ")))
		case triggers.Applied:
			parts = append(parts, f.Name+" is not live")
		}
	}
	for _, l := range rep.LiveOnly {
		parts = append(parts, fmt.Sprintf("%s is live but not among the rule files", l.Name))
	}
	res := Result{Status: Failed}
	if rep.Count(triggers.Unchanged) == len(rep.Files) {
		res.Status = Warning // only extra live files: nothing the source defines differs
	}
	res.Message = fmt.Sprintf("the live rules differ from the %s: %s; `realtimed triggers diff` shows how",
		rep.Origin, strings.Join(parts, "; "))
	return res
}
