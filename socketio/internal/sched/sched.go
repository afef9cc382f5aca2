// Package sched runs many one-shot timers from a single goroutine, so that a server with tens
// of thousands of connections needs no runtime timer or goroutine per connection for its
// heartbeats and timeouts.
package sched

import (
	"container/heap"
	"sync"
	"time"
)

// Timer is a one-shot timer owned by a Scheduler. Its zero value is not usable: use NewTimer.
type Timer struct {
	when  time.Duration // since the scheduler's epoch
	index int           // position in the heap, -1 when not scheduled
	f     func()
}

// NewTimer returns a stopped timer that calls f when it fires. f runs on the scheduler's
// goroutine: it must return quickly and never block. Because firing and Stop can race, f may
// run once just after a Stop; callbacks check their own state.
func NewTimer(f func()) *Timer { return &Timer{f: f, index: -1} }

// Scheduler fires Timers in deadline order from one goroutine.
type Scheduler struct {
	epoch time.Time

	mu      sync.Mutex
	timers  timerHeap
	wake    chan struct{}
	done    chan struct{}
	stopped bool
}

// New starts a scheduler. Call Close to stop its goroutine.
func New() *Scheduler {
	s := &Scheduler{epoch: time.Now(), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go s.run()
	return s
}

// Reset (re)schedules t to fire after d, replacing any earlier schedule.
func (s *Scheduler) Reset(t *Timer, d time.Duration) {
	when := time.Since(s.epoch) + d
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	t.when = when
	if t.index >= 0 {
		heap.Fix(&s.timers, t.index)
	} else {
		heap.Push(&s.timers, t)
	}
	first := s.timers[0] == t
	s.mu.Unlock()
	if first {
		s.poke()
	}
}

// Stop unschedules t. It reports whether t was scheduled.
func (s *Scheduler) Stop(t *Timer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&s.timers, t.index)
	return true
}

// Len returns the number of scheduled timers.
func (s *Scheduler) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.timers)
}

// Close stops the scheduler; timers that have not fired never will.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	close(s.done)
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Scheduler) run() {
	clock := time.NewTimer(time.Hour)
	defer clock.Stop()
	var (
		due  []*Timer
		next time.Duration
	)
	for {
		due, next = s.popDue(due[:0])
		for i, t := range due {
			t.f()
			due[i] = nil
		}
		if next > 0 {
			clock.Reset(next)
		}
		select {
		case <-clock.C:
		case <-s.wake:
		case <-s.done:
			return
		}
	}
}

// popDue removes the timers whose deadline has passed and returns them with the time until the
// next deadline (0 when none is scheduled).
func (s *Scheduler) popDue(due []*Timer) ([]*Timer, time.Duration) {
	now := time.Since(s.epoch)
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.timers) > 0 && s.timers[0].when <= now {
		due = append(due, heap.Pop(&s.timers).(*Timer))
	}
	if len(s.timers) == 0 {
		return due, 0
	}
	return due, s.timers[0].when - now
}

type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].when < h[j].when }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
