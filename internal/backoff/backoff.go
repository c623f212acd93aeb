// Package backoff is the waiting that every retry loop shares: a sleep that
// ends with its context, a server's Retry-After advice, and exponential
// backoff with full jitter. Each caller keeps its own policy (how many
// retries, which caps); this package only does the arithmetic and the wait.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// httpDateLayouts are the layouts of an HTTP date (RFC 9110 §5.6.7), the
// ones net/http.ParseTime tries; they are repeated here so that the packages
// that only sleep (throttle, syncjob) do not depend on net/http.
var httpDateLayouts = []string{"Mon, 02 Jan 2006 15:04:05 GMT", time.RFC850, time.ANSIC}

// maxRetryAfterSeconds bounds delay-seconds before they are multiplied, so a
// silly value cannot overflow a time.Duration (2^20 s is about twelve days,
// far above any caller's cap).
const maxRetryAfterSeconds = 1 << 20

// Sleep waits d or until ctx is done, and returns ctx.Err() in that case.
// When d <= 0 it does not wait and returns ctx.Err() at once. A ctx made by
// Interruptible also ends the wait when its outer context is done.
func Sleep(ctx context.Context, d time.Duration) error {
	outer, _ := ctx.Value(interruptKey{}).(context.Context)
	var stop <-chan struct{}
	if outer != nil {
		if err := outer.Err(); err != nil {
			return err
		}
		stop = outer.Done()
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return outer.Err()
	case <-t.C:
		return nil
	}
}

type interruptKey struct{}

// Interruptible returns ctx whose Sleeps also end when outer is done. A
// job sends a request with a context that cannot be cancelled, so that a
// stop waits for the answer of the request in flight instead of leaving its
// outcome unknown; with this, the stop does not also wait out that
// request's retries.
func Interruptible(ctx, outer context.Context) context.Context {
	return context.WithValue(ctx, interruptKey{}, outer)
}

// RetryAfter reads the value of a Retry-After header: delay-seconds or an
// HTTP date, relative to now. It is 0 (no advice) when v is empty,
// unreadable, not positive or in the past. Delay-seconds are bounded to
// about twelve days; callers cap the result with their own limit.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second
	}
	for _, layout := range httpDateLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return max(t.Sub(now), 0)
		}
	}
	return 0
}

// FullJitter is the wait before retry number attempt (1 for the first; less
// is taken as 1): uniform in [0, min(maxWait, base·2^(attempt-1))], the
// "full jitter" of exponential backoff. A doubling that would overflow is
// maxWait. jitter returns a uniform value in [0, n); nil means rand.Int64N.
// A non-positive maxWait means no wait.
func FullJitter(attempt int, base, maxWait time.Duration, jitter func(n int64) int64) time.Duration {
	ceil := ceiling(attempt, base, maxWait)
	if ceil <= 0 {
		return 0
	}
	if jitter == nil {
		jitter = rand.Int64N
	}
	n := int64(ceil)
	if n < math.MaxInt64 {
		n++ // ceil itself is a possible wait
	}
	return time.Duration(jitter(n))
}

// ceiling is min(maxWait, base·2^(attempt-1)), maxWait when the doubling
// overflows.
func ceiling(attempt int, base, maxWait time.Duration) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if shift := attempt - 1; shift < 62 {
		if d := base << shift; d > 0 && d < maxWait && d>>shift == base {
			return d
		}
	}
	return maxWait
}
