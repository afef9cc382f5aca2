package recovery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/realtimed/realtimed/socketio"
)

// TestWaitingAheadRestores: a restore whose offset is ahead of the stream goes back to the
// restore queue once the node's position passes its offset (or aheadRetry has passed), is
// answered ErrRetryLater once it has waited AheadWait, or when the store stops.
func TestWaitingAheadRestores(t *testing.T) {
	for _, tc := range []struct {
		name      string
		position  int64         // the node's position while the restore waits
		waited    time.Duration // how long the restore has waited already
		stop      bool          // the store stops
		requeued  bool
		retryLate bool
		notBefore time.Duration // the outcome comes no sooner
	}{
		{name: "the stream reaches the offset", position: 10, requeued: true},
		{name: "the stream is past the offset", position: 11, requeued: true},
		{name: "still ahead: tried again after aheadRetry", position: 9, requeued: true, notBefore: aheadRetry - aheadPoll},
		{name: "waited AheadWait", position: 9, waited: time.Second, retryLate: true},
		{name: "the store stops", position: 0, stop: true, retryLate: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var position atomic.Int64
			position.Store(tc.position)
			log := logrus.New()
			log.SetLevel(logrus.PanicLevel)
			st := &Store{
				cfg:      Config{AheadWait: time.Second, Position: position.Load},
				log:      log,
				restores: newQueue[*restoreReq](10, 10),
				ahead:    newAheadWaiters(),
			}
			r := &restoreReq{pid: "p", after: 10, ahead: true, done: make(chan restored, 1), log: log}
			st.waitAhead(r, time.Now().Add(-tc.waited))
			if got := st.Stats().WaitingAhead; got != 1 {
				t.Fatalf("WaitingAhead = %d, want 1", got)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				st.runAhead(ctx)
			}()
			if tc.stop {
				cancel()
			}
			began := time.Now()
			limit := 2 * aheadRetry
			if tc.notBefore == 0 {
				limit = aheadRetry / 2 // not the periodic retry: the position (or the stop) let it go
			}
			var requeued bool
			var answer restored
			select {
			case q := <-st.restores.ch:
				requeued = true
				if q != r || q.ahead || q.after != 0 {
					t.Errorf("requeued %+v, want the request reset", q)
				}
			case answer = <-r.done:
			case <-time.After(limit):
				t.Fatalf("the waiting restore was neither requeued nor answered within %s", limit)
			}
			if took := time.Since(began); took < tc.notBefore {
				t.Errorf("outcome after %s, want no sooner than %s", took, tc.notBefore)
			}
			cancel()
			<-done
			if requeued != tc.requeued {
				t.Errorf("requeued = %v, want %v", requeued, tc.requeued)
			}
			if retry := errors.Is(answer.err, socketio.ErrRetryLater); retry != tc.retryLate {
				t.Errorf("answer %v, want retry later: %v", answer.err, tc.retryLate)
			}
			if st.Stats().WaitingAhead != 0 {
				t.Errorf("still waiting: %d", st.Stats().WaitingAhead)
			}
		})
	}
}
