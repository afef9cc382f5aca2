package doctor

import "context"

// NOTIFY queue usage thresholds: the README's suggested alert, and where it becomes urgent (at
// 1, every notifying commit in the cluster fails).
const (
	queueWarn = 0.1
	queueFail = 0.5
)

func init() {
	Register(Check{Name: "notify queue", Order: 50, NeedsDatabase: true, Run: checkNotifyQueue})
}

func checkNotifyQueue(ctx context.Context, env *Env) Result {
	pool, _ := env.Pool(ctx)
	var usage float64
	if err := pool.QueryRow(ctx, `SELECT pg_notification_queue_usage()`).Scan(&usage); err != nil {
		return Failf("pg_notification_queue_usage(): %v", err)
	}
	return queueVerdict(usage)
}

// queueVerdict judges the NOTIFY queue's usage (0 to 1).
func queueVerdict(usage float64) Result {
	const stuck = "a listening session is not reading: find it in pg_stat_activity (a long transaction of a LISTEN session)"
	switch {
	case usage >= queueFail:
		return Failf("%.1f%% of the NOTIFY queue is in use; at 100%% every notifying commit fails: %s", 100*usage, stuck)
	case usage >= queueWarn:
		return Warnf("%.1f%% of the NOTIFY queue is in use (alert at 10%%): %s", 100*usage, stuck)
	}
	return Passf("%.2f%% of the NOTIFY queue is in use", 100*usage)
}
