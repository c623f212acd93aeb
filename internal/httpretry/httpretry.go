// Package httpretry holds the rules both HTTP clients — the search engine's
// and the Sync API's — retry by: which answers are worth sending again,
// which transport failures never go away by themselves (the server's
// certificate is not trusted), and how long to wait before the next attempt.
package httpretry

import (
	"net/http"
	"time"

	"github.com/indexsync/indexsync/internal/backoff"
	"github.com/indexsync/indexsync/internal/tlstrust"
)

// Defaults for Policy fields left zero.
const (
	DefaultBase          = 500 * time.Millisecond
	DefaultMax           = 30 * time.Second
	DefaultMaxRetryAfter = 5 * time.Minute
)

// Policy is how often and how patiently to retry.
type Policy struct {
	// Retries is how many times a request is sent again after the first
	// attempt; 0 disables retries.
	Retries int
	// Base and Max bound the exponential backoff: the n-th wait is drawn
	// uniformly from [0, min(Max, Base·2^(n-1))] ("full jitter").
	Base, Max time.Duration
	// MaxRetryAfter caps a server's Retry-After, so a misconfigured proxy
	// cannot stall a run for hours.
	MaxRetryAfter time.Duration
	// Jitter returns a uniform value in [0, n); nil means rand.Int64N (see
	// backoff.FullJitter). Tests set it to see the ceiling.
	Jitter func(n int64) int64
}

// Wait is the wait before retry number attempt (1 for the first retry). A
// positive retryAfter (the server's Retry-After) is honoured as is, up to
// MaxRetryAfter; otherwise exponential backoff with full jitter.
func (p Policy) Wait(attempt int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return min(retryAfter, or(p.MaxRetryAfter, DefaultMaxRetryAfter))
	}
	base := or(p.Base, DefaultBase)
	return backoff.FullJitter(attempt, base, max(or(p.Max, DefaultMax), base), p.Jitter)
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// RetryableStatus reports whether an answer with this HTTP status may be
// different when the request is sent again: 408, 429, and 5xx except 501
// and 505 (the server cannot do it at all). A bulk item's status is judged
// the same way.
func RetryableStatus(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		return false
	}
	return status >= 500 && status <= 599
}

// TLSTrustError reports a transport failure that sending again cannot fix:
// the server's certificate is not trusted (unknown authority, wrong host
// name, invalid), or an https URL points at a plain-HTTP port.
func TLSTrustError(err error) bool {
	return tlstrust.Problem(err) != ""
}
