package httpretry

import (
	"crypto/x509"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	// jitter returning its maximum shows the ceiling; returning 0 the floor.
	top := func(n int64) int64 { return n - 1 }
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second, MaxRetryAfter: time.Minute, Jitter: top}
	tests := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first retry", 1, 0, 100 * time.Millisecond},
		{"second doubles", 2, 0, 200 * time.Millisecond},
		{"fourth", 4, 0, 800 * time.Millisecond},
		{"capped at Max", 5, 0, time.Second},
		{"huge attempt does not overflow", 200, 0, time.Second},
		{"attempt 0 treated as 1", 0, 0, 100 * time.Millisecond},
		{"Retry-After honoured exactly", 1, 7 * time.Second, 7 * time.Second},
		{"Retry-After beats the backoff cap", 9, 3 * time.Second, 3 * time.Second},
		{"Retry-After capped", 1, time.Hour, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Wait(tt.attempt, tt.retryAfter); got != tt.want {
				t.Errorf("Wait(%d, %s) = %s, want %s", tt.attempt, tt.retryAfter, got, tt.want)
			}
		})
	}
	p.Jitter = func(int64) int64 { return 0 }
	if got := p.Wait(3, 0); got != 0 {
		t.Errorf("full jitter floor: got %s, want 0", got)
	}
}

func TestWaitDefaultsAndRange(t *testing.T) {
	var p Policy // zero value: defaults, real randomness
	for attempt := 1; attempt <= 10; attempt++ {
		ceil := min(DefaultBase<<(attempt-1), DefaultMax)
		for range 200 {
			if got := p.Wait(attempt, 0); got < 0 || got > ceil {
				t.Fatalf("Wait(%d) = %s, outside [0, %s]", attempt, got, ceil)
			}
		}
	}
	if got := p.Wait(1, time.Hour); got != DefaultMaxRetryAfter {
		t.Errorf("Retry-After of an hour: got %s, want the %s cap", got, DefaultMaxRetryAfter)
	}
}

func TestRetryableStatus(t *testing.T) {
	for status, want := range map[int]bool{
		200: false, 400: false, 401: false, 404: false, 408: true, 409: false, 429: true,
		500: true, 501: false, 502: true, 503: true, 504: true, 505: false, 599: true,
	} {
		if got := RetryableStatus(status); got != want {
			t.Errorf("RetryableStatus(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestTLSTrustError(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), true},
		{fmt.Errorf("x: %w", x509.HostnameError{Host: "es"}), true},
		{errors.New(`Get "https://es:9200": http: server gave HTTP response to HTTPS client`), true},
		{errors.New("connection refused"), false},
	} {
		if got := TLSTrustError(tt.err); got != tt.want {
			t.Errorf("TLSTrustError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
