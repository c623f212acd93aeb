// Package throttle paces a job's calls: a fixed ceiling (--rate, documents
// per second) and an adaptive brake that halves the pace when the server
// pushes back (HTTP 429/503, bulk rejections) and eases off again after a
// quiet period — additive increase, multiplicative decrease, as TCP does.
package throttle

import (
	"context"
	"sync"
	"time"

	"github.com/indexsync/indexsync/internal/backoff"
)

// Throttle is safe for concurrent use.
type Throttle struct {
	mu       sync.Mutex
	ceiling  float64       // docs per second; 0 = none
	brake    time.Duration // extra gap between calls while the server pushes back; 0 = none
	next     time.Time     // earliest start of the next call
	lastPush time.Time
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error

	// Tunables.
	Quiet    time.Duration // without push-back this long, the brake eases; default 5 s
	MinBrake time.Duration // first brake after a push-back; default 50 ms
	MaxBrake time.Duration // default 10 s
}

// New returns a throttle with a ceiling of rate documents per second (0: none).
func New(rate float64) *Throttle {
	return &Throttle{
		ceiling: rate, now: time.Now, sleep: backoff.Sleep,
		Quiet: 5 * time.Second, MinBrake: 50 * time.Millisecond, MaxBrake: 10 * time.Second,
	}
}

// Wait blocks until a call carrying n documents may start.
func (t *Throttle) Wait(ctx context.Context, n int) error {
	t.mu.Lock()
	now := t.now()
	t.ease(now)
	start := t.next
	if start.Before(now) {
		start = now
	}
	gap := t.brake
	if t.ceiling > 0 {
		if per := time.Duration(float64(n) / t.ceiling * float64(time.Second)); per > gap {
			gap = per
		}
	}
	t.next = start.Add(gap)
	t.mu.Unlock()
	if d := start.Sub(now); d > 0 {
		return t.sleep(ctx, d)
	}
	return ctx.Err()
}

// PushBack records that the server refused work (429, 503, rejected items).
func (t *Throttle) PushBack() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastPush = t.now()
	switch {
	case t.brake == 0:
		t.brake = t.MinBrake
	case t.brake < t.MaxBrake:
		t.brake = min(2*t.brake, t.MaxBrake)
	}
}

// ease lowers the brake by a quarter for every quiet period since the last
// push-back; below MinBrake it is released.
func (t *Throttle) ease(now time.Time) {
	if t.brake == 0 || now.Sub(t.lastPush) < t.Quiet {
		return
	}
	t.brake = t.brake * 3 / 4
	t.lastPush = now // the next step needs another quiet period
	if t.brake < t.MinBrake {
		t.brake = 0
	}
}
