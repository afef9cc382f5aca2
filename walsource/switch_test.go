package walsource_test

import (
	"context"
	"testing"

	"github.com/realtimed/realtimed/internal/wait"
	"github.com/realtimed/realtimed/walsource"
)

// TestSwitchNotifyToWALAndBackUnderWriters switches a running system from notify to wal and
// back while 8 writers publish: every committed event is in the stream exactly once, and the
// slot is gone at the end (drained, then dropped).
func TestSwitchNotifyToWALAndBackUnderWriters(t *testing.T) {
	e := newEnv(t, walsource.SourceNotify)
	ctx := context.Background()
	stop := e.writers(t, 8)
	wait.Until(t, "events through notify", func() bool { return e.count(t) > 100 })

	// notify → wal: realtimed creates the slot, then sets the source.
	if prev, err := walsource.SetSource(ctx, e.pool, walsource.SourceWAL, e.slot); err != nil || prev != walsource.SourceNotify {
		t.Fatalf("SetSource(wal) = %q, %v", prev, err)
	}
	o := newOffers(t)
	cfgA := e.readerConfig("walsource-test-a")
	cfgA.Ahead = o.hook
	a, stopA := e.startReader(t, cfgA)
	wait.Until(t, "events through wal", func() bool { return a.Stats().Appended > 100 })

	// wal → notify: the nodes restart with the notify source; one drains the slot and drops it.
	if _, err := walsource.SetSource(ctx, e.pool, walsource.SourceNotify, e.slot); err != nil {
		t.Fatal(err)
	}
	stopA()
	cfg := e.readerConfig("walsource-test-b")
	cfg.Retire = true
	b, _ := e.startReader(t, cfg)
	wait.Until(t, "the slot drained and dropped", func() bool { return b.Stats().Retired })
	st, err := walsource.ReadSlot(ctx, e.pool, e.slot)
	if err != nil || st.Exists {
		t.Fatalf("slot after retiring: %+v, %v", st, err)
	}
	wait.Until(t, "more events through notify", func() bool { return e.count(t) > int(a.Stats().Appended+b.Stats().Appended)+300 })
	committed := stop()
	e.waitCount(t, committed)
	rows := e.rows(t)
	checkOrder(t, rows)
	o.check(t, rows)
	var viaWAL int
	for _, r := range rows {
		if r.lsn != nil {
			viaWAL++
		}
	}
	t.Logf("%d events: %d through wal (%d appended by the retiring reader), %d through notify", len(rows), viaWAL, b.Stats().Appended, len(rows)-viaWAL)
	if viaWAL == 0 || viaWAL == len(rows) {
		t.Fatalf("%d of %d events through wal: the switch did not happen", viaWAL, len(rows))
	}
}
