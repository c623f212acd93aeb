package syncapi

import (
	"context"
	"sync"
)

// item is one id waiting to be indexed in the background.
type item struct {
	objectType string
	id         string
}

// queue is a bounded FIFO of ids. A request is admitted whole or not at all,
// so a caller told 503 can simply send the same block again.
type queue struct {
	mu     sync.Mutex
	items  []item
	head   int
	cap    int
	closed bool
	ready  chan struct{} // signalled (non-blocking) when items arrive or on close
}

func newQueue(capacity int) *queue {
	return &queue{cap: capacity, ready: make(chan struct{}, 1)}
}

func (q *queue) lenLocked() int { return len(q.items) - q.head }

// Len returns the number of ids waiting.
func (q *queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.lenLocked()
}

// TryPush admits all items or none; false when they do not fit or the queue
// is closed.
func (q *queue) TryPush(objectType string, ids []string) bool {
	q.mu.Lock()
	if q.closed || q.lenLocked()+len(ids) > q.cap {
		q.mu.Unlock()
		return false
	}
	if q.head > 0 && q.head >= len(q.items)/2 {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	for _, id := range ids {
		q.items = append(q.items, item{objectType: objectType, id: id})
	}
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// Close stops admissions; Pop drains what is left, then reports done.
func (q *queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

// Pop waits for ids and returns up to max of them, all of the head item's
// object type. ok is false when the queue is closed and empty, or ctx ends.
func (q *queue) Pop(ctx context.Context, max int) (objectType string, ids []string, ok bool) {
	for {
		q.mu.Lock()
		if n := q.lenLocked(); n > 0 {
			objectType = q.items[q.head].objectType
			for q.head < len(q.items) && len(ids) < max && q.items[q.head].objectType == objectType {
				ids = append(ids, q.items[q.head].id)
				q.items[q.head] = item{}
				q.head++
			}
			more := q.lenLocked() > 0
			q.mu.Unlock()
			if more {
				q.signal() // wake another worker
			}
			return objectType, ids, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			q.signal() // let the other workers see it too
			return "", nil, false
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return "", nil, false
		}
	}
}

// Drain removes and returns everything still queued.
func (q *queue) Drain() []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := append([]item(nil), q.items[q.head:]...)
	q.items, q.head = nil, 0
	return out
}
