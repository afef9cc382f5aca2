package walsource_test

import (
	"context"
	"testing"
	"time"

	"github.com/realtimed/realtimed/internal/wait"
)

// BenchmarkDrain measures how fast one reader drains events already committed in the slot into
// the stream: b.N events (small, as rules publish them: about 120 bytes of payload), in
// transactions of 100, committed before the reader starts. It reports events/s.
//
//	REALTIME_TEST_DATABASE_URL=$(scripts/pg.sh start) go test ./walsource -run '^$' -bench Drain -benchtime 500000x
func BenchmarkDrain(b *testing.B) {
	e := newEnvB(b)
	ctx := context.Background()
	const per = 100
	for done := 0; done < b.N; done += per {
		n := min(per, b.N-done)
		if _, err := e.pool.Exec(ctx, `SELECT realtime.publish('task.updated', ARRAY['user-' || (k % 50)], ARRAY['family:f1'],
			jsonb_build_object('id', k, 'name', 'Take out the trash', 'status', 'open', 'familyId', 'f1', 'points', 10))
			FROM generate_series(1, $1::int) k`, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	began := time.Now()
	r, stop := e.startReader(b, e.readerConfig("walsource-bench-reader"))
	wait.UntilWithin(b, 10*time.Minute, "the slot drained", func() bool { return r.Stats().Appended >= uint64(b.N) })
	elapsed := time.Since(began)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}
