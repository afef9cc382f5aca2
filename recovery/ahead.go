package recovery

import (
	"context"
	"sync"
	"time"
)

// With the wal source the node reading the slot delivers events before their append, so a
// client of that node may come back (to another node, or before the append) with an offset the
// stream reaches a few milliseconds later. Such a restore waits here, on no connection, until
// this node's listener has passed its offset (the append is done: positions are drawn before
// they are handed over) and is then restored in the next batch; it is tried again every
// aheadRetry regardless, for a node whose position lags the stream. After Config.AheadWait it
// is answered ErrRetryLater, as before: the client comes back with its backoff and the same
// offset (the reader died with the events offered, and the next reader has not appended them
// yet).

const (
	// aheadPoll is how often waiting restores are compared with the node's position.
	aheadPoll = 5 * time.Millisecond
	// aheadRetry is how often a waiting restore is tried again even if the node's position has
	// not passed its offset.
	aheadRetry = 250 * time.Millisecond
)

// aheadWaiters holds the restores whose offset is ahead of the appended stream.
type aheadWaiters struct {
	mu   sync.Mutex
	reqs []*restoreReq
	wake chan struct{} // a restore started waiting
}

func newAheadWaiters() *aheadWaiters { return &aheadWaiters{wake: make(chan struct{}, 1)} }

// add makes r wait for the stream.
func (a *aheadWaiters) add(r *restoreReq, now time.Time) {
	if r.aheadSince.IsZero() {
		r.aheadSince = now
	}
	r.triedAt = now
	a.mu.Lock()
	a.reqs = append(a.reqs, r)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// take removes and returns the restores for which pick is true.
func (a *aheadWaiters) take(pick func(*restoreReq) bool) []*restoreReq {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*restoreReq
	kept := a.reqs[:0]
	for _, r := range a.reqs {
		if pick(r) {
			out = append(out, r)
		} else {
			kept = append(kept, r)
		}
	}
	clear(a.reqs[len(kept):])
	a.reqs = kept
	return out
}

func (a *aheadWaiters) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.reqs)
}

// waitAhead answers r later: once the stream may have reached its offset it goes back to the
// restore queue; after AheadWait it is answered ErrRetryLater.
func (st *Store) waitAhead(r *restoreReq, now time.Time) {
	if !r.aheadSince.IsZero() && now.Sub(r.aheadSince) >= st.cfg.AheadWait {
		st.stats.retryLater.Add(1)
		r.retryLater("offset %d is ahead of the appended stream (delivered ahead of its append); waited %s",
			r.after, now.Sub(r.aheadSince).Round(time.Millisecond))
		return
	}
	st.ahead.add(r, now)
}

// runAhead sends the waiting restores back to the restore queue as the stream reaches them,
// until ctx is done; then it answers those still waiting with ErrRetryLater. It polls only
// while restores wait.
func (st *Store) runAhead(ctx context.Context) {
	poll := time.NewTimer(aheadPoll)
	defer poll.Stop()
	for {
		if st.ahead.len() == 0 {
			select {
			case <-ctx.Done():
				return
			case <-st.ahead.wake:
			}
		}
		poll.Reset(aheadPoll)
		select {
		case <-ctx.Done():
			for _, r := range st.ahead.take(func(*restoreReq) bool { return true }) {
				st.stats.retryLater.Add(1)
				r.retryLater("offset %d is ahead of the appended stream and the node is stopping", r.after)
			}
			return
		case <-poll.C:
		}
		now, position := time.Now(), st.cfg.Position()
		due := st.ahead.take(func(r *restoreReq) bool {
			return r.after <= position || now.Sub(r.triedAt) >= aheadRetry || now.Sub(r.aheadSince) >= st.cfg.AheadWait
		})
		for _, r := range due {
			st.retryAhead(r, now)
		}
	}
}

// retryAhead queues a waiting restore again, fresh, or answers it once it has waited AheadWait.
func (st *Store) retryAhead(r *restoreReq, now time.Time) {
	if now.Sub(r.aheadSince) >= st.cfg.AheadWait {
		st.waitAhead(r, now) // answers it
		return
	}
	r.ahead, r.sess, r.after, r.chats = false, nil, 0, nil
	r.queued = now
	if !st.restores.push(r) {
		st.stats.overloaded.Add(1)
		r.retryLater("overloaded: %d restores are waiting already", cap(st.restores.ch))
	}
}
