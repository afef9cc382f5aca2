package doctor

import "context"

func init() {
	Register(Check{Name: "wal level", Order: 31, NeedsDatabase: true, Applies: walSource, Run: checkWALLevel})
}

func checkWALLevel(ctx context.Context, env *Env) Result {
	pool, _ := env.Pool(ctx)
	var level string
	if err := pool.QueryRow(ctx, `SELECT current_setting('wal_level')`).Scan(&level); err != nil {
		return Failf("reading wal_level: %v", err)
	}
	return walLevelVerdict(level)
}

// walLevelVerdict judges the server's wal_level for the wal source.
func walLevelVerdict(level string) Result {
	if level != "logical" {
		return Failf("wal_level is %s; the wal source needs logical: ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL", level)
	}
	return Passf("wal_level is logical")
}
