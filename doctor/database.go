package doctor

import (
	"context"
)

// MinServerVersion is the oldest PostgreSQL realtimed runs on (server_version_num): the
// migrations use gen_random_uuid() and pg_current_xact_id(), both of PostgreSQL 13.
const MinServerVersion = 130000

func init() {
	Register(Check{Name: "database", Order: 10, Run: checkDatabase})
}

func checkDatabase(ctx context.Context, env *Env) Result {
	pool, err := env.Pool(ctx)
	if err != nil {
		return Failf("not reachable: %v", err)
	}
	var (
		num     int
		version string
	)
	if err := pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_version')`).Scan(&num, &version); err != nil {
		return Failf("reachable, but its version could not be read: %v", err)
	}
	if num < MinServerVersion {
		return Failf("PostgreSQL %s at %s: realtimed needs PostgreSQL 13 or later", version, env.Config.DB)
	}
	return Passf("PostgreSQL %s at %s", version, env.Config.DB)
}
