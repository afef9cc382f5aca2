package doctor

import (
	"context"
	"fmt"
	"strings"

	"github.com/realtimed/realtimed/migrations"
)

func init() {
	Register(Check{Name: "schema", Order: 20, NeedsDatabase: true, Run: checkSchema})
}

// checkSchema compares each migration set's applied version with the newest this binary has.
func checkSchema(ctx context.Context, env *Env) Result {
	pool, _ := env.Pool(ctx)
	res := Result{Status: OK}
	var parts []string
	for _, set := range migrations.Sets(env.Config.ReferenceSchema) {
		st, err := migrations.ReadStatus(ctx, pool, set)
		if err != nil {
			return Failf("%v", err)
		}
		var s string
		status := OK
		switch {
		case st.Dirty:
			s, status = fmt.Sprintf("%s at %d, dirty: a migration failed half-way (repair by hand)", set.Name, st.Applied), Failed
		case st.Applied == 0:
			s, status = fmt.Sprintf("%s not migrated (this realtimed has up to %d): run realtimed migrate up", set.Name, st.Latest), Failed
		case st.Unknown():
			s, status = fmt.Sprintf("%s at %d, newer than this realtimed knows (%d): a newer realtimed migrated it", set.Name, st.Applied, st.Latest), Warning
		case st.Pending():
			s, status = fmt.Sprintf("%s at %d, this realtimed has up to %d: run realtimed migrate up", set.Name, st.Applied, st.Latest), Failed
		default:
			s = fmt.Sprintf("%s at %d (latest)", set.Name, st.Applied)
		}
		parts = append(parts, s)
		res.Status = max(res.Status, status)
	}
	res.Message = strings.Join(parts, "; ")
	return res
}
