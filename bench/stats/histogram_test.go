package stats

import (
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestBucketsCoverValuesWithSmallError(t *testing.T) {
	for _, us := range []uint64{0, 1, 999, 1023, 1024, 1025, 2047, 2048, 10_000, 123_456, 1 << 30, 1<<40 - 1} {
		i := bucketOf(us)
		up := bucketUpper(i)
		if up < us {
			t.Fatalf("value %d: bucket %d upper edge %d is below it", us, i, up)
		}
		if i > 0 && bucketUpper(i-1) >= us {
			t.Fatalf("value %d: previous bucket %d already covers it", us, i-1)
		}
		if us >= linearLimit && float64(up-us)/float64(us) > 0.01 {
			t.Fatalf("value %d: bucket upper edge %d is more than 1%% off", us, up)
		}
	}
	if got := bucketOf(1 << 50); got != numBuckets-1 {
		t.Fatalf("huge value in bucket %d, want the last one", got)
	}
}

func TestSummaryMatchesExactPercentiles(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	values := make([]int, 100_000)
	for i := range values {
		values[i] = int(r.ExpFloat64() * 5000) // µs, mean 5 ms
		h.Record(time.Duration(values[i]) * time.Microsecond)
	}
	sort.Ints(values)
	s := h.Summary()
	if s.Count != uint64(len(values)) {
		t.Fatalf("count %d, want %d", s.Count, len(values))
	}
	cases := []struct {
		name string
		got  float64
		q    float64
	}{{"p50", s.P50, 0.50}, {"p90", s.P90, 0.90}, {"p99", s.P99, 0.99}, {"p999", s.P999, 0.999}}
	for _, c := range cases {
		exact := float64(values[int(c.q*float64(len(values)))-1]) / 1000
		if c.got < exact || c.got > exact*1.011+0.002 {
			t.Errorf("%s = %.3f ms, exact %.3f ms", c.name, c.got, exact)
		}
	}
	if s.Max != float64(values[len(values)-1])/1000 {
		t.Errorf("max %.3f, want %.3f", s.Max, float64(values[len(values)-1])/1000)
	}
}

func TestConcurrentRecordAndEmpty(t *testing.T) {
	var h Histogram
	if s := h.Summary(); s.Count != 0 || s.P99 != 0 {
		t.Fatalf("empty summary %+v", s)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Record(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	h.Record(-time.Second) // negative: counted as zero
	s := h.Summary()
	if s.Count != 8001 || s.P50 != 1 || s.Max != 1 {
		t.Fatalf("summary %+v", s)
	}
}
