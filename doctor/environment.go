package doctor

import (
	"context"
	"strings"

	"github.com/realtimed/realtimed/config"
)

func init() {
	Register(Check{Name: "environment", Order: 90, Run: checkEnvironment})
}

// checkEnvironment warns about REALTIME_* variables no setting reads (misspelt, or removed).
func checkEnvironment(_ context.Context, env *Env) Result {
	unknown := config.Unknown(env.Environ)
	if len(unknown) == 0 {
		return Passf("no unknown REALTIME_* variables")
	}
	parts := make([]string, len(unknown))
	for i, u := range unknown {
		parts[i] = u.String()
	}
	return Warnf("%s", strings.Join(parts, "; "))
}
