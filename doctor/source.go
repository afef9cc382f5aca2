package doctor

import "github.com/realtimed/realtimed/walsource"

// walSource says whether the configuration reads events with the wal source (the checks of
// order 31–39 apply to it).
func walSource(env *Env) bool { return env.Config.Source == walsource.SourceWAL }

// walSlotName is the replication slot the wal source reads (REALTIME_WAL_SLOT).
func walSlotName(env *Env) string {
	if env.Config.WALSlot == "" {
		return walsource.DefaultSlot
	}
	return env.Config.WALSlot
}
