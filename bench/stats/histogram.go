// Package stats records latencies in a fixed-size, lock-free histogram (log-linear buckets,
// under 1% relative error) and summarises them as percentiles.
package stats

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Values are microseconds. Below linearLimit every microsecond has its own bucket; above it,
// each power of two is split into subBuckets buckets.
const (
	linearBits  = 10
	linearLimit = 1 << linearBits // 1.024 ms
	subBits     = 7
	subBuckets  = 1 << subBits // relative width 1/128 < 1%
	maxExp      = 40           // up to 2^40 µs ≈ 12.7 days; larger values are clamped
	numBuckets  = linearLimit + (maxExp-linearBits)*subBuckets
)

// Histogram counts durations. The zero value is ready; it is safe for concurrent use.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // µs
	max    atomic.Uint64 // µs
}

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

func bucketOf(us uint64) int {
	if us < linearLimit {
		return int(us)
	}
	exp := bits.Len64(us) - 1 // us in [2^exp, 2^(exp+1))
	if exp >= maxExp {
		return numBuckets - 1
	}
	sub := (us >> (exp - subBits)) & (subBuckets - 1)
	return linearLimit + (exp-linearBits)*subBuckets + int(sub)
}

// bucketUpper returns the largest value that falls in bucket i.
func bucketUpper(i int) uint64 {
	if i < linearLimit {
		return uint64(i)
	}
	i -= linearLimit
	exp := i/subBuckets + linearBits
	sub := uint64(i % subBuckets)
	lo := uint64(1)<<exp + sub<<(exp-subBits)
	return lo + 1<<(exp-subBits) - 1
}

// Summary is a histogram's percentiles, in milliseconds.
type Summary struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary returns the percentiles of what was recorded so far. A percentile is the upper edge
// of the bucket holding it, capped at the maximum seen.
func (h *Histogram) Summary() Summary {
	n := h.n.Load()
	s := Summary{Count: n}
	if n == 0 {
		return s
	}
	max := h.max.Load()
	s.Mean = round3(float64(h.sum.Load()) / float64(n) / 1000)
	s.Max = round3(float64(max) / 1000)
	targets := []struct {
		q   float64
		dst *float64
	}{{0.50, &s.P50}, {0.90, &s.P90}, {0.99, &s.P99}, {0.999, &s.P999}}
	var seen uint64
	t := 0
	for i := range h.counts {
		seen += h.counts[i].Load()
		for t < len(targets) && float64(seen) >= math.Ceil(targets[t].q*float64(n)) {
			v := min(bucketUpper(i), max)
			*targets[t].dst = round3(float64(v) / 1000)
			t++
		}
		if t == len(targets) {
			break
		}
	}
	for ; t < len(targets); t++ { // counts raced ahead of n: fall back to the maximum
		*targets[t].dst = s.Max
	}
	return s
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
