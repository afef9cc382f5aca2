package doctor

import "context"

func init() {
	Register(Check{Name: "replication", Order: 32, NeedsDatabase: true, Applies: walSource, Run: checkReplication})
}

// checkReplication checks that realtimed's database role may read the replication slot.
func checkReplication(ctx context.Context, env *Env) Result {
	pool, _ := env.Pool(ctx)
	var (
		role             string
		replication, sup bool
	)
	err := pool.QueryRow(ctx, `SELECT rolname, rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user`).
		Scan(&role, &replication, &sup)
	if err != nil {
		return Failf("reading the role's attributes: %v", err)
	}
	return replicationVerdict(role, replication, sup)
}

// replicationVerdict judges whether role may stream from a replication slot.
func replicationVerdict(role string, replication, superuser bool) Result {
	switch {
	case superuser:
		return Passf("role %s is a superuser (the REPLICATION attribute is enough)", role)
	case replication:
		return Passf("role %s has the REPLICATION attribute", role)
	}
	return Failf("role %s cannot read a replication slot: ALTER ROLE %s REPLICATION (as a superuser)", role, role)
}
