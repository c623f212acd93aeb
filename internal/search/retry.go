package search

// Retry classification and backoff, in one place (the go-retryablehttp
// CheckRetry/Backoff split): Retryable says whether a failure may succeed if
// sent again, RetryPolicy.Backoff says how long to wait first.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/indexsync/indexsync/internal/backoff"
)

// Defaults for RetryPolicy fields left zero.
const (
	DefaultRetryBase     = 500 * time.Millisecond
	DefaultRetryMax      = 30 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
)

// Retryable reports whether a request that failed with this HTTP status (0
// when there was no answer) or this error may succeed when sent again: 408,
// 429 and 5xx except 501/505, and transport errors other than TLS trust
// problems and cancellation. A bulk item status is classified the same way.
func Retryable(status int, err error) bool {
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) {
			return Retryable(he.Status, nil)
		}
		if errors.Is(err, context.Canceled) {
			return false
		}
		var ce *ConnectError
		if errors.As(err, &ce) {
			return !isTLSError(ce.Err)
		}
		var netErr net.Error
		return errors.As(err, &netErr)
	}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return true
	case status == http.StatusNotImplemented, status == http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500 && status <= 599
}

// retryAllowed adds what Retryable cannot know: whether sending the request a
// second time is harmless. A non-idempotent request (index creation, alias
// swap, scroll continuation) is re-sent only when the engine cannot have acted
// on it: the connection was never made, or it answered 429.
func retryAllowed(idempotent bool, status int, err error) bool {
	if idempotent {
		return Retryable(status, err)
	}
	var ce *ConnectError
	if errors.As(err, &ce) {
		return ce.dial
	}
	if status == 0 {
		status = statusOf(err)
	}
	return status == http.StatusTooManyRequests
}

// RetryPolicy is how often and how patiently to retry.
type RetryPolicy struct {
	// Retries is how many times a request or bulk item is sent again after
	// the first attempt; 0 disables retries.
	Retries int
	// Base and Max bound the exponential backoff: the n-th wait is drawn
	// uniformly from [0, min(Max, Base·2^(n-1))] ("full jitter").
	Base, Max time.Duration
	// MaxRetryAfter caps a server's Retry-After, so a misconfigured proxy
	// cannot stall a run for hours.
	MaxRetryAfter time.Duration

	// jitter returns a uniform value in [0, n); nil means rand.Int64N
	// (see backoff.FullJitter). Tests replace it.
	jitter func(n int64) int64
}

// Backoff is the wait before retry number attempt (1 for the first retry).
// A positive retryAfter (from the server's Retry-After) is honoured as is, up
// to MaxRetryAfter; otherwise exponential backoff with full jitter.
func (p RetryPolicy) Backoff(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, cmpOr(p.MaxRetryAfter, DefaultMaxRetryAfter))
	}
	return backoff.FullJitter(attempt, cmpOr(p.Base, DefaultRetryBase), cmpOr(p.Max, DefaultRetryMax), p.jitter)
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
