package search

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetryable(t *testing.T) {
	refused := &ConnectError{URL: "http://h:9200", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, dial: true}
	tests := []struct {
		name   string
		status int
		err    error
		want   bool
	}{
		{"200", 200, nil, false},
		{"400 bad request", 400, nil, false},
		{"401", 401, nil, false},
		{"404", 404, nil, false},
		{"408 request timeout", 408, nil, true},
		{"409 conflict", 409, nil, false},
		{"413 too large", 413, nil, false},
		{"429 rejected", 429, nil, true},
		{"500", 500, nil, true},
		{"501 not implemented", 501, nil, false},
		{"502", 502, nil, true},
		{"503", 503, nil, true},
		{"504", 504, nil, true},
		{"505", 505, nil, false},
		{"connection refused", 0, refused, true},
		{"wrapped connection refused", 0, fmt.Errorf("bulk: %w", refused), true},
		{"TLS unknown authority", 0, &ConnectError{Err: x509.UnknownAuthorityError{}}, false},
		{"HTTPError 503", 0, &HTTPError{Status: 503}, true},
		{"HTTPError 400", 0, fmt.Errorf("x: %w", &HTTPError{Status: 400}), false},
		{"ResponseError", 0, &ResponseError{Status: 200, Err: errors.New("bad json")}, false},
		{"context canceled", 0, context.Canceled, false},
		{"bare net error", 0, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"other error", 0, io.ErrShortWrite, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Retryable(tt.status, tt.err); got != tt.want {
				t.Errorf("Retryable(%d, %v) = %v, want %v", tt.status, tt.err, got, tt.want)
			}
		})
	}
}

func TestRetryAllowedForNonIdempotentRequests(t *testing.T) {
	tests := []struct {
		name   string
		status int
		err    error
		want   bool
	}{
		{"never connected", 0, &ConnectError{Err: errors.New("refused"), dial: true}, true},
		{"connection lost after sending", 0, &ConnectError{Err: io.ErrUnexpectedEOF}, false},
		{"429: the engine did nothing", 429, &HTTPError{Status: 429}, true},
		{"503: maybe half done", 503, &HTTPError{Status: 503}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAllowed(false, tt.status, tt.err); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRequestRetryTiming checks the waits between attempts of a plain
// request against the policy, on the fake clock.
func TestRequestRetryTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine(t, "").on("GET /userv3/_count",
			jsonReply(503, `{"error":{"type":"unavailable_shards_exception","reason":"not ready"},"status":503}`),
			jsonReply(502, "<html>bad gateway</html>"),
			reply{status: 429, header: map[string]string{"Retry-After": "5"}},
			jsonReply(200, `{"count":42,"_shards":{"total":5,"successful":5,"skipped":0,"failed":0}}`))
		start := time.Now()
		c := newTestClient(t, e, Config{Retries: 3, RetryBase: time.Second, RetryMax: time.Minute})
		c.retry.Jitter = func(n int64) int64 { return n - 1 } // always the ceiling
		n, err := c.Count(t.Context(), "userv3")
		if err != nil || n != 42 {
			t.Fatalf("got %d, %v; want 42", n, err)
		}
		// Waits: 1s, 2s (backoff ceilings), then 5s from Retry-After.
		var attempts []time.Duration
		for _, r := range e.requests("GET /userv3/_count") {
			attempts = append(attempts, r.At.Sub(start))
		}
		want := []time.Duration{0, time.Second, 3 * time.Second, 8 * time.Second}
		if diff := cmp.Diff(want, attempts); diff != "" {
			t.Errorf("attempt times (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(Stats{Requests: 4, Retries: 3}, c.Stats()); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})
}

// TestAttemptTimeout: a node that never answers costs Timeout per attempt,
// and is reported as unreachable.
func TestAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		c := newTestClient(t, hang, Config{Timeout: 5 * time.Second, Retries: 1, RetryBase: time.Second})
		c.retry.Jitter = func(n int64) int64 { return n - 1 }
		start := time.Now()
		_, err := c.Info(t.Context())
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
		if got, want := time.Since(start), 11*time.Second; got != want {
			t.Errorf("took %s, want %s (two 5s attempts and a 1s wait)", got, want)
		}
		if want := "cannot reach the search engine at http://engine.test:9200: no answer in time (timed out) (check --search-url)"; err.Error() != want {
			t.Errorf("got %q\nwant %q", err, want)
		}
	})
}
