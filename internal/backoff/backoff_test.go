package backoff

import (
	"context"
	"errors"
	"math"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

func TestSleepEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("slept %s, want 1s", got)
		}
	})
}

func TestSleepWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := Sleep(t.Context(), 3*time.Second); err != nil {
			t.Errorf("got %v, want nil", err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Errorf("slept %s, want 3s", got)
		}
	})
}

func TestSleepWithoutDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		for _, d := range []time.Duration{0, -time.Second} {
			if err := Sleep(t.Context(), d); err != nil {
				t.Errorf("Sleep(%s) = %v, want nil", d, err)
			}
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("Sleep(0) on a cancelled context = %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("slept %s, want no wait", got)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"absent", "", 0},
		{"blank", "   ", 0},
		{"seconds", "3", 3 * time.Second},
		{"spaces", " 120 ", 2 * time.Minute},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"huge is bounded", "99999999999999", maxRetryAfterSeconds * time.Second},
		{"beyond int64", "99999999999999999999999", 0},
		{"fraction", "1.5", 0},
		{"garbage", "soon", 0},
		{"HTTP date ahead", "Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second},
		{"HTTP date formatted", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"HTTP date now", "Sat, 01 Mar 2025 12:00:00 GMT", 0},
		{"HTTP date past", "Sat, 01 Mar 2025 11:00:00 GMT", 0},
		{"RFC 850 date", "Saturday, 01-Mar-25 12:01:00 GMT", time.Minute},
		{"ANSI C date", "Sat Mar  1 12:02:00 2025", 2 * time.Minute},
		{"date with garbage", "Sat, 01 Mar 2025 12:00:30 GMT soon", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfter(tt.in, now); got != tt.want {
				t.Errorf("RetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// TestRetryAfterDatesAsNetHTTP: the dates RetryAfter reads are the ones
// net/http.ParseTime reads (the layouts are repeated to avoid importing it).
func TestRetryAfterDatesAsNetHTTP(t *testing.T) {
	if httpDateLayouts[0] != http.TimeFormat {
		t.Errorf("first layout %q, want http.TimeFormat %q", httpDateLayouts[0], http.TimeFormat)
	}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	later := now.Add(45 * time.Second)
	for _, v := range []string{
		later.Format(http.TimeFormat),
		later.Format(time.RFC850),
		later.Format(time.ANSIC),
		later.Format(time.RFC1123Z),
		later.Format(time.RFC3339),
	} {
		want := time.Duration(0)
		if at, err := http.ParseTime(v); err == nil {
			want = at.Sub(now)
		}
		if got := RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %s, net/http reads %s", v, got, want)
		}
	}
}

func TestFullJitterCeiling(t *testing.T) {
	// jitter returning its maximum shows the ceiling.
	top := func(n int64) int64 { return n - 1 }
	base, maxWait := 100*time.Millisecond, time.Second
	tests := []struct {
		name    string
		attempt int
		want    time.Duration
	}{
		{"first retry", 1, 100 * time.Millisecond},
		{"second doubles", 2, 200 * time.Millisecond},
		{"fourth", 4, 800 * time.Millisecond},
		{"capped at max", 5, time.Second},
		{"attempt 0 treated as 1", 0, 100 * time.Millisecond},
		{"negative attempt treated as 1", -3, 100 * time.Millisecond},
		{"shift 61", 62, time.Second},
		{"shift 62", 63, time.Second},
		{"huge attempt", 200, time.Second},
		{"largest attempt", math.MaxInt, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FullJitter(tt.attempt, base, maxWait, top); got != tt.want {
				t.Errorf("FullJitter(%d) = %s, want %s", tt.attempt, got, tt.want)
			}
		})
	}
	if got := FullJitter(3, base, maxWait, func(int64) int64 { return 0 }); got != 0 {
		t.Errorf("full jitter floor: got %s, want 0", got)
	}
}

// TestFullJitterOverflow: a doubling that wraps around, however it wraps,
// gives the cap rather than a small or negative wait.
func TestFullJitterOverflow(t *testing.T) {
	top := func(n int64) int64 { return n - 1 }
	maxWait := time.Duration(math.MaxInt64)
	for _, base := range []time.Duration{time.Nanosecond, 3 * time.Millisecond, time.Hour, time.Duration(math.MaxInt64 / 3)} {
		prev := time.Duration(0)
		for attempt := 1; attempt <= 130; attempt++ {
			got := FullJitter(attempt, base, maxWait, top)
			if got < prev {
				t.Fatalf("base %s: FullJitter(%d) = %s, less than %s for the attempt before", base, attempt, got, prev)
			}
			prev = got
		}
		if prev != maxWait-1 {
			// the largest wait drawable: n cannot be MaxInt64+1
			t.Errorf("base %s: FullJitter(130) = %s, want %s", base, prev, maxWait-1)
		}
	}
}

func TestFullJitterRange(t *testing.T) {
	base, maxWait := 500*time.Millisecond, 30*time.Second
	for attempt := 1; attempt <= 70; attempt++ {
		ceil := maxWait
		if attempt <= 7 {
			ceil = min(base<<(attempt-1), maxWait)
		}
		for range 200 {
			if got := FullJitter(attempt, base, maxWait, nil); got < 0 || got > ceil {
				t.Fatalf("FullJitter(%d) = %s, outside [0, %s]", attempt, got, ceil)
			}
		}
	}
}

func TestFullJitterNoWait(t *testing.T) {
	called := false
	jitter := func(int64) int64 { called = true; return 0 }
	for _, maxWait := range []time.Duration{0, -time.Second} {
		if got := FullJitter(1, time.Second, maxWait, jitter); got != 0 {
			t.Errorf("max %s: got %s, want 0", maxWait, got)
		}
	}
	if called {
		t.Error("jitter was drawn for a zero ceiling")
	}
}
