package throttle

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestCeiling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := New(100) // 100 docs/s
		start := time.Now()
		for range 5 {
			if err := th.Wait(context.Background(), 50); err != nil {
				t.Fatal(err)
			}
		}
		// 5 calls of 50 docs at 100 docs/s: the 5th starts after 4 × 0.5 s
		if got := time.Since(start); got != 2*time.Second {
			t.Errorf("5 calls took %s, want 2s", got)
		}
	})
}

func TestPushBackAndEase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := New(0)
		if brakeOf(th) != 0 {
			t.Fatal("brake without push-back")
		}
		th.PushBack()
		th.PushBack()
		th.PushBack()
		if got := brakeOf(th); got != 200*time.Millisecond {
			t.Errorf("brake after 3 push-backs = %s, want 200ms", got)
		}
		start := time.Now()
		_ = th.Wait(context.Background(), 1)
		_ = th.Wait(context.Background(), 1)
		if got := time.Since(start); got != 200*time.Millisecond {
			t.Errorf("two calls under a 200ms brake took %s", got)
		}
		// quiet periods ease the brake step by step, then release it
		for i := 0; i < 10 && brakeOf(th) > 0; i++ {
			time.Sleep(5 * time.Second)
		}
		if brakeOf(th) != 0 {
			t.Errorf("brake still %s after quiet periods", brakeOf(th))
		}
		for range 20 {
			th.PushBack()
		}
		if brakeOf(th) != th.MaxBrake {
			t.Errorf("brake %s, want capped at %s", brakeOf(th), th.MaxBrake)
		}
	})
}

func TestWaitHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := New(1)
		_ = th.Wait(context.Background(), 10) // next call 10 s later
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := th.Wait(ctx, 1); err == nil {
			t.Error("want a context error")
		}
	})
}

// brakeOf is the current extra gap between calls, as the next Wait sees it.
func brakeOf(t *Throttle) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ease(t.now())
	return t.brake
}
