package syncapi

import (
	"context"
	"sync"
)

// item is one id waiting to be indexed in the background, and the journal
// segment that keeps it until it is done.
type item struct {
	objectType string
	id         string
	seg        uint64
}

// batch is what a worker takes from the queue: ids of one object type and,
// per journal segment, how many of them it holds.
type batch struct {
	objectType string
	ids        []string
	segs       map[uint64]int
}

// queue is a bounded FIFO of ids. A request is admitted whole or not at all
// (Reserve, then Push once the ids are in the journal), so a caller told 503
// can simply send the same block again.
type queue struct {
	mu       sync.Mutex
	items    []item
	head     int
	reserved int
	cap      int
	closed   bool
	ready    chan struct{} // signalled (non-blocking) when items arrive or on close
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

// Reserve takes room for n ids; false when they do not fit or the queue is
// closed. The room is filled by Push or given back by Release.
func (q *queue) Reserve(n int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.lenLocked()+q.reserved+n > q.cap {
		return false
	}
	q.reserved += n
	return true
}

// Release gives back room taken by Reserve and not filled.
func (q *queue) Release(n int) {
	q.mu.Lock()
	q.reserved -= n
	q.mu.Unlock()
}

// Push adds ids kept by journal segment seg. reserved says they fill room
// taken by Reserve; ids replayed from the journal at start take none.
func (q *queue) Push(objectType string, ids []string, seg uint64, reserved bool) {
	q.mu.Lock()
	if reserved {
		q.reserved -= len(ids)
	}
	if q.head > 0 && q.head >= len(q.items)/2 {
		q.items = append(q.items[:0], q.items[q.head:]...)
		q.head = 0
	}
	for _, id := range ids {
		q.items = append(q.items, item{objectType: objectType, id: id, seg: seg})
	}
	q.mu.Unlock()
	q.signal()
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
func (q *queue) Pop(ctx context.Context, max int) (b batch, ok bool) {
	for {
		q.mu.Lock()
		if n := q.lenLocked(); n > 0 {
			b = batch{objectType: q.items[q.head].objectType, segs: map[uint64]int{}}
			for q.head < len(q.items) && len(b.ids) < max && q.items[q.head].objectType == b.objectType {
				b.ids = append(b.ids, q.items[q.head].id)
				b.segs[q.items[q.head].seg]++
				q.items[q.head] = item{}
				q.head++
			}
			more := q.lenLocked() > 0
			q.mu.Unlock()
			if more {
				q.signal() // wake another worker
			}
			return b, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			q.signal() // let the other workers see it too
			return batch{}, false
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return batch{}, false
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
