package recovery

import (
	"context"
	"sync"
)

// queue hands work to workers in batches. A worker takes everything that is waiting, up to
// max items: a lone request goes at once, and under load the batches grow with the queue, so
// that the database work per request shrinks as the load rises instead of the requests
// queueing for one round trip each. It holds at most limit items; push refuses more.
type queue[T any] struct {
	ch  chan T
	max int
}

func newQueue[T any](limit, max int) *queue[T] {
	return &queue[T]{ch: make(chan T, limit), max: max}
}

// push queues an item; false when the queue is full.
func (q *queue[T]) push(item T) bool {
	select {
	case q.ch <- item:
		return true
	default:
		return false
	}
}

// take waits for an item, then takes those waiting behind it, up to max. It returns nil once
// ctx is done.
func (q *queue[T]) take(ctx context.Context, buf []T) []T {
	buf = buf[:0]
	select {
	case <-ctx.Done():
		return nil
	case item := <-q.ch:
		buf = append(buf, item)
	}
	return q.more(buf)
}

// more appends the items waiting, up to max in all, without blocking.
func (q *queue[T]) more(buf []T) []T {
	for len(buf) < q.max {
		select {
		case item := <-q.ch:
			buf = append(buf, item)
		default:
			return buf
		}
	}
	return buf
}

// len returns how many items are waiting.
func (q *queue[T]) len() int { return len(q.ch) }

// work runs n workers that pass each batch to f until ctx is done, and waits for them.
func (q *queue[T]) work(ctx context.Context, n int, f func([]T)) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []T
			for {
				if buf = q.take(ctx, buf); buf == nil {
					return
				}
				f(buf)
				clear(buf)
			}
		}()
	}
	wg.Wait()
}
