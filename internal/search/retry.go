package search

// Retry classification, in one place (the go-retryablehttp CheckRetry
// split): Retryable says whether a failure may succeed if sent again; the
// rules it shares with the Sync API client, and the waits, are
// internal/httpretry's.

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/indexsync/indexsync/internal/httpretry"
)

// Retryable reports whether a request that failed with this HTTP status (0
// when there was no answer) or this error may succeed when sent again: 408,
// 429 and 5xx except 501/505, and transport errors other than TLS trust
// problems and cancellation. An answer that says the request could not be
// parsed is never retried, whatever its status (Elasticsearch 6.8 sends 500
// for a malformed body: requestFault in dialect.go). A bulk item is
// classified the same way.
func Retryable(status int, err error) bool {
	if err != nil {
		var he *HTTPError
		if errors.As(err, &he) {
			return !he.requestFault && Retryable(he.Status, nil)
		}
		if errors.Is(err, context.Canceled) {
			return false
		}
		var ce *ConnectError
		if errors.As(err, &ce) {
			return !httpretry.TLSTrustError(ce.Err)
		}
		var netErr net.Error
		return errors.As(err, &netErr)
	}
	return httpretry.RetryableStatus(status)
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
