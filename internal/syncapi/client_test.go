package syncapi

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/indexsync/indexsync/internal/backoff"
	"github.com/indexsync/indexsync/internal/httpretry"
	"github.com/indexsync/indexsync/internal/secret"
)

// answer is one scripted reply of the fake Sync API.
type answer struct {
	status int
	header map[string]string
	body   string
}

// fakeAPI is a scripted Sync API. It counts attempts per X-Request-ID, so
// "503 twice, then 200" holds for every call, and records what it received.
type fakeAPI struct {
	answer func(attempt int, r *http.Request) answer // attempt is 1-based, per request id

	mu       sync.Mutex
	attempts map[string]int
	bodies   []string
	headers  []http.Header
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	if f.attempts == nil {
		f.attempts = map[string]int{}
	}
	id := r.Header.Get("X-Request-ID")
	f.attempts[id]++
	n := f.attempts[id]
	f.bodies = append(f.bodies, string(body))
	f.headers = append(f.headers, r.Header.Clone())
	f.mu.Unlock()

	a := f.answer(n, r)
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (f *fakeAPI) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

// always answers a every time; sequence answers as in turn, then the last.
func always(a answer) func(int, *http.Request) answer {
	return func(int, *http.Request) answer { return a }
}

func sequence(as ...answer) func(int, *http.Request) answer {
	return func(n int, _ *http.Request) answer { return as[min(n, len(as))-1] }
}

// envelopeBody is our server's envelope around result; e, when set, makes it
// a FAILED one.
func envelopeBody(t *testing.T, result map[string]any, e *apiError) string {
	t.Helper()
	b, err := json.Marshal(newEnvelope("req-1", time.Date(2023, 9, 20, 12, 2, 24, 452e6, time.UTC), result, e))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func okAnswer(t *testing.T) answer {
	return answer{status: http.StatusOK, body: envelopeBody(t, map[string]any{"response": "SUCCESS"}, nil)}
}

// startHTTPTest serves f on a real loopback socket; the client is NewClient's
// default one.
func startHTTPTest(t *testing.T, f *fakeAPI) (string, *http.Client) {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL + RouteSync, nil
}

// startPipeServer serves f with a real http.Server over net.Pipe connections.
// Inside a synctest bubble the fake clock only advances while every
// goroutine is durably blocked, which socket I/O is not but a pipe (built on
// channels) is, so backoff waits take no real time and can be measured
// exactly.
func startPipeServer(t *testing.T, f *fakeAPI) (string, *http.Client) {
	l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: f}
	go func() { _ = srv.Serve(l) }()
	tr := &http.Transport{DialContext: l.dial}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
	})
	return "http://sync.test" + RouteSync, &http.Client{Transport: tr}
}

type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, syscall.ECONNREFUSED
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

const clientTestKey = "sekrit-key-0123456789"

// newFakeClient returns a client for endpoint with fast, deterministic
// defaults (5 retries, jitter at its ceiling), adjusted by mod.
func newFakeClient(t *testing.T, endpoint string, hc *http.Client, mod func(*ClientConfig)) *Client {
	t.Helper()
	cfg := ClientConfig{
		Endpoint:  endpoint,
		APIKey:    secret.New(clientTestKey),
		Retries:   5,
		RetryBase: 500 * time.Millisecond,
		RetryMax:  30 * time.Second,
		HTTP:      hc,
		UserAgent: "indexsync-test/1.0",
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.retry.Jitter = func(n int64) int64 { return n - 1 }
	return c
}

func TestClientRequestBodyAndHeaders(t *testing.T) {
	tests := []struct {
		name       string
		background bool
		key        string
		objectType string
		ids        []string
		wantBody   string
	}{
		{
			name: "sync mode", key: clientTestKey, objectType: "user", ids: []string{"u-1", "u-2"},
			wantBody: `{"params":{},"request":{"objectType":"user","objectIds":["u-1","u-2"],"operationFor":"es","operationType":"sync"}}`,
		},
		{
			name: "background mode is the old job's body", background: true, key: clientTestKey, objectType: "user", ids: []string{"u-1", "u-2"},
			wantBody: `{"params":{},"request":{"objectType":"user","objectIds":["u-1","u-2"],"operationFor":"es"}}`,
		},
		{
			name: "no key, no ids, no HTML escaping", background: true, objectType: "organisation", ids: nil,
			wantBody: `{"params":{},"request":{"objectType":"organisation","objectIds":[],"operationFor":"es"}}`,
		},
		{
			name: "ids kept as they are", objectType: "location", ids: []string{"a&b", "<c>"},
			wantBody: `{"params":{},"request":{"objectType":"location","objectIds":["a&b","<c>"],"operationFor":"es","operationType":"sync"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{answer: always(okAnswer(t))}
			var gotMethod, gotPath string
			checked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotMethod, gotPath = r.Method, r.URL.Path
				f.ServeHTTP(w, r)
			})
			srv := httptest.NewServer(checked)
			defer srv.Close()
			c := newFakeClient(t, srv.URL+RouteSync, nil, func(cfg *ClientConfig) {
				cfg.Background = tt.background
				cfg.APIKey = secret.New(tt.key)
			})

			res, err := c.Sync(t.Context(), tt.objectType, tt.ids, "req-42")
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if gotMethod != http.MethodPost || gotPath != RouteSync {
				t.Errorf("got %s %s, want POST %s", gotMethod, gotPath, RouteSync)
			}
			if diff := cmp.Diff(tt.wantBody, f.bodies[0]); diff != "" {
				t.Errorf("body sent (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantBody, string(res.Request)); diff != "" {
				t.Errorf("CallResult.Request (-want +got):\n%s", diff)
			}
			wantAuth := ""
			if tt.key != "" {
				wantAuth = "Bearer " + tt.key
			}
			h := f.headers[0]
			got := map[string]string{
				"Content-Type":  h.Get("Content-Type"),
				"Authorization": h.Get("Authorization"),
				"X-Request-ID":  h.Get("X-Request-ID"),
				"User-Agent":    h.Get("User-Agent"),
			}
			want := map[string]string{
				"Content-Type":  "application/json",
				"Authorization": wantAuth,
				"X-Request-ID":  "req-42",
				"User-Agent":    "indexsync-test/1.0",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if _, ok := h["Authorization"]; ok != (tt.key != "") {
				t.Errorf("Authorization header present = %v, want %v", ok, tt.key != "")
			}
		})
	}
}

// summary is the part of a CallResult the retry tests compare.
type summary struct {
	Status, Attempts, Retries, Throttled int
	OK                                   bool
}

func summarize(res *CallResult) summary {
	return summary{Status: res.Status, Attempts: res.Attempts, Retries: res.Retries, Throttled: res.Throttled, OK: res.OK}
}

func TestClientRetries503ThenSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		unavailable := answer{status: http.StatusServiceUnavailable, body: envelopeBody(t, nil, &apiError{status: 503, code: "SERVER_ERROR", err: "QUEUE_FULL", msg: "queue full"})}
		f := &fakeAPI{answer: sequence(unavailable, unavailable, okAnswer(t))}
		endpoint, hc := startPipeServer(t, f)
		c := newFakeClient(t, endpoint, hc, nil)

		for _, reqID := range []string{"call-1", "call-2"} {
			start := time.Now()
			res, err := c.Sync(t.Context(), "user", []string{"a", "b"}, reqID)
			if err != nil {
				t.Fatalf("%s: Sync: %v", reqID, err)
			}
			want := summary{Status: 200, Attempts: 3, Retries: 2, Throttled: 2, OK: true}
			if diff := cmp.Diff(want, summarize(res)); diff != "" {
				t.Errorf("%s: result (-want +got):\n%s", reqID, diff)
			}
			// Jitter at its ceiling: 500ms, then 1s.
			if got, want := time.Since(start), 1500*time.Millisecond; got != want {
				t.Errorf("%s: took %v, want %v", reqID, got, want)
			}
		}
		for i, b := range f.bodies {
			if b != f.bodies[0] {
				t.Errorf("attempt %d sent %q, want the same body as the first, %q", i+1, b, f.bodies[0])
			}
		}
	})
}

func TestClientHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter func(now time.Time) string
		want       time.Duration
	}{
		{"429 seconds", http.StatusTooManyRequests, func(time.Time) string { return "3" }, 3 * time.Second},
		{"503 HTTP date", http.StatusServiceUnavailable, func(now time.Time) string { return now.Add(7 * time.Second).UTC().Format(http.TimeFormat) }, 7 * time.Second},
		{"capped at 5 minutes", http.StatusTooManyRequests, func(time.Time) string { return "86400" }, 5 * time.Minute},
		{"unreadable: backoff", http.StatusTooManyRequests, func(time.Time) string { return "soon" }, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeAPI{answer: func(n int, _ *http.Request) answer {
					if n == 1 {
						return answer{status: tt.status, header: map[string]string{"Retry-After": tt.retryAfter(time.Now())}}
					}
					return okAnswer(t)
				}}
				endpoint, hc := startPipeServer(t, f)
				c := newFakeClient(t, endpoint, hc, nil)

				start := time.Now()
				res, err := c.Sync(t.Context(), "user", []string{"a"}, "r")
				if err != nil {
					t.Fatalf("%s: Sync: %v", tt.name, err)
				}
				if got := time.Since(start); got != tt.want {
					t.Errorf("%s: waited %v, want %v", tt.name, got, tt.want)
				}
				want := summary{Status: 200, Attempts: 2, Retries: 1, Throttled: 1, OK: true}
				if diff := cmp.Diff(want, summarize(res)); diff != "" {
					t.Errorf("%s: result (-want +got):\n%s", tt.name, diff)
				}
			})
		})
	}
}

func TestClientUnauthorized(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		key    string
		want   string
	}{
		{"401", http.StatusUnauthorized, clientTestKey, "rejected the API key (HTTP 401): check --api-key / INDEXSYNC_API_KEY"},
		{"403", http.StatusForbidden, clientTestKey, "rejected the API key (HTTP 403): check --api-key / INDEXSYNC_API_KEY"},
		{"401 without a key", http.StatusUnauthorized, "", "requires an API key (HTTP 401): set --api-key / INDEXSYNC_API_KEY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := envelopeBody(t, nil, &apiError{status: tt.status, code: "CLIENT_ERROR", err: "UNAUTHORIZED", msg: "You are not authorized."})
			f := &fakeAPI{answer: always(answer{status: tt.status, body: body})}
			endpoint, hc := startHTTPTest(t, f)
			c := newFakeClient(t, endpoint, hc, func(cfg *ClientConfig) { cfg.APIKey = secret.New(tt.key) })

			res, err := c.Sync(t.Context(), "user", []string{"a"}, "r")
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("err = %v, want ErrUnauthorized", err)
			}
			if f.calls() != 1 || res.Attempts != 1 {
				t.Errorf("server saw %d attempts, result says %d; want exactly 1", f.calls(), res.Attempts)
			}
			msg := err.Error()
			if !strings.Contains(msg, endpoint) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q: want it to name %s and say %q", msg, endpoint, tt.want)
			}
			if strings.Contains(msg, clientTestKey) {
				t.Errorf("error %q contains the API key", msg)
			}
			var se *HTTPStatusError
			if !errors.As(err, &se) || se.Status != tt.status || string(se.Body) != body {
				t.Errorf("errors.As HTTPStatusError = %+v, want status %d and the body", se, tt.status)
			}
		})
	}
}

func TestClientBodyNotAnEnvelope(t *testing.T) {
	const html = "<html>bad gateway</html>"
	const truncated = `{"id":"api.data.sync","ver":"v1","params":{"status":"SUCC`
	t.Run("HTML retried, then success", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeAPI{answer: sequence(answer{status: 200, header: map[string]string{"Content-Type": "text/html"}, body: html}, okAnswer(t))}
			endpoint, hc := startPipeServer(t, f)
			c := newFakeClient(t, endpoint, hc, nil)
			res, err := c.Sync(t.Context(), "user", []string{"a"}, "r")
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			want := summary{Status: 200, Attempts: 2, Retries: 1, OK: true}
			if diff := cmp.Diff(want, summarize(res)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	})
	t.Run("invalid JSON every time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := &fakeAPI{answer: always(answer{status: 200, body: truncated})}
			endpoint, hc := startPipeServer(t, f)
			c := newFakeClient(t, endpoint, hc, func(cfg *ClientConfig) { cfg.Retries = 3 })
			res, err := c.Sync(t.Context(), "user", []string{"a"}, "r")
			if !errors.Is(err, ErrRetriesExhausted) {
				t.Fatalf("err = %v, want ErrRetriesExhausted", err)
			}
			if errors.Is(err, ErrUnreachable) {
				t.Errorf("err = %v: the server answered, want it not to be ErrUnreachable", err)
			}
			want := summary{Status: 200, Attempts: 4, Retries: 3}
			if diff := cmp.Diff(want, summarize(res)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if string(res.Response) != truncated {
				t.Errorf("Response = %q, want %q", res.Response, truncated)
			}
			if msg := err.Error(); !strings.Contains(msg, "4 attempts") || !strings.Contains(msg, "HTTP 200") {
				t.Errorf("error %q: want the attempt count and the last status", msg)
			}
		})
	})
}

func TestClientPermanentAnswers(t *testing.T) {
	invalidType := envelopeBody(t, nil, clientError("UOS_0072", "Invalid Object Type."))
	tests := []struct {
		name    string
		answer  answer
		status  int
		wantMsg string
	}{
		{"400 envelope", answer{status: 400, body: invalidType}, 400, "HTTP 400: CLIENT_ERROR: UOS_0072: Invalid Object Type."},
		{"404 from a gateway", answer{status: 404, body: "no Route matched with those values"}, 404, `HTTP 404: "no Route matched with those values"`},
		{"413", answer{status: 413, body: ""}, 413, "HTTP 413: (empty body)"},
		{"501", answer{status: 501, body: "not implemented"}, 501, "HTTP 501"},
		{"200 FAILED envelope", answer{status: 200, body: envelopeBody(t, nil, &apiError{code: "SERVER_ERROR", err: "X", msg: "odd"})}, 200, "HTTP 200: SERVER_ERROR: X: odd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{answer: always(tt.answer)}
			endpoint, hc := startHTTPTest(t, f)
			c := newFakeClient(t, endpoint, hc, nil)
			res, err := c.Sync(t.Context(), "user", []string{"a"}, "r")
			var se *HTTPStatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want an *HTTPStatusError", err)
			}
			if se.Status != tt.status || string(se.Body) != tt.answer.body {
				t.Errorf("HTTPStatusError{Status: %d, Body: %q}, want %d, %q", se.Status, se.Body, tt.status, tt.answer.body)
			}
			want := summary{Status: tt.status, Attempts: 1}
			if diff := cmp.Diff(want, summarize(res)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if f.calls() != 1 {
				t.Errorf("server saw %d attempts, want 1", f.calls())
			}
			if string(res.Response) != tt.answer.body {
				t.Errorf("Response = %q, want %q", res.Response, tt.answer.body)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantMsg) || !strings.Contains(msg, endpoint) {
				t.Errorf("error %q: want it to name %s and contain %q", msg, endpoint, tt.wantMsg)
			}
		})
	}
}

func TestClientPerID(t *testing.T) {
	tests := []struct {
		name       string
		background bool
		result     map[string]any
		ids        []string
		want       map[string]bool
	}{
		{
			name:   "true, false and a missing id",
			result: map[string]any{"response": "SUCCESS", "esSyncResponse": map[string]any{"a": true, "b": false}},
			ids:    []string{"a", "b", "c"},
			want:   map[string]bool{"a": true, "b": false, "c": false},
		},
		{
			name:   "extra ids the server reports are ignored",
			result: map[string]any{"response": "SUCCESS", "esSyncResponse": map[string]any{"a": true, "zzz": true}},
			ids:    []string{"a"},
			want:   map[string]bool{"a": true},
		},
		{
			name:   "empty esSyncResponse: every id failed",
			result: map[string]any{"response": "SUCCESS", "esSyncResponse": map[string]any{}},
			ids:    []string{"a", "b"},
			want:   map[string]bool{"a": false, "b": false},
		},
		{
			name:   "Sunbird's shape: failed users at the top level of result",
			result: map[string]any{"response": "SUCCESS", "esSyncResponse": map[string]any{"a": true}, "b": false},
			ids:    []string{"a", "b", "c"},
			want:   map[string]bool{"a": true, "b": false, "c": false},
		},
		{
			name:   "Sunbird's shape, no esSyncResponse: only failed users",
			result: map[string]any{"response": "SUCCESS", "a": false},
			ids:    []string{"a"},
			want:   map[string]bool{"a": false},
		},
		{
			name:   "both shapes at once (indexsync serve)",
			result: map[string]any{"response": "SUCCESS", "esSyncResponse": map[string]any{"a": true, "b": false}, "b": false},
			ids:    []string{"a", "b"},
			want:   map[string]bool{"a": true, "b": false},
		},
		{
			name:       "background mode: no per-id answer",
			background: true,
			result:     map[string]any{"response": "SUCCESS"},
			ids:        []string{"a", "b"},
			want:       nil,
		},
		{
			name:   "Sunbird without operationType support: no per-id answer",
			result: map[string]any{"response": "SUCCESS", "esSyncResponse": nil},
			ids:    []string{"a"},
			want:   nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{answer: always(answer{status: 200, body: envelopeBody(t, tt.result, nil)})}
			endpoint, hc := startHTTPTest(t, f)
			c := newFakeClient(t, endpoint, hc, func(cfg *ClientConfig) { cfg.Background = tt.background })
			res, err := c.Sync(t.Context(), "user", tt.ids, "r")
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if !res.OK {
				t.Errorf("OK = false, want true")
			}
			if diff := cmp.Diff(tt.want, res.PerID); diff != "" {
				t.Errorf("PerID (-want +got):\n%s", diff)
			}
			if (res.PerID == nil) != (tt.want == nil) {
				t.Errorf("PerID = %#v, want nil %v", res.PerID, tt.want == nil)
			}
		})
	}
}

func TestClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + ln.Addr().String() + RouteSync
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	c := newFakeClient(t, endpoint, nil, func(cfg *ClientConfig) {
		cfg.Retries = 2
		cfg.RetryBase, cfg.RetryMax = time.Millisecond, 2*time.Millisecond
	})
	res, err := c.Sync(t.Context(), "user", []string{"a"}, "r")
	for _, target := range []error{ErrUnreachable, ErrRetriesExhausted, syscall.ECONNREFUSED} {
		if !errors.Is(err, target) {
			t.Errorf("err = %v, want errors.Is %v", err, target)
		}
	}
	if err != nil && !strings.Contains(err.Error(), endpoint) {
		t.Errorf("error %q does not name %s", err, endpoint)
	}
	if diff := cmp.Diff(summary{Status: 0, Attempts: 3, Retries: 2}, summarize(res)); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestClientCancelDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{answer: always(answer{status: http.StatusBadGateway})}
		endpoint, hc := startPipeServer(t, f)
		c := newFakeClient(t, endpoint, hc, func(cfg *ClientConfig) { cfg.RetryBase = 10 * time.Second })

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		time.AfterFunc(time.Second, cancel) // during the first 10 s wait
		start := time.Now()
		res, err := c.Sync(ctx, "user", []string{"a"}, "r")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("returned after %v, want 1s (when cancelled)", got)
		}
		if res.Attempts != 1 || f.calls() != 1 {
			t.Errorf("attempts = %d (server saw %d), want 1", res.Attempts, f.calls())
		}
	})
}

func TestClientAttemptTimeoutRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeAPI{answer: func(n int, r *http.Request) answer {
			if n == 1 {
				select { // hang until the client gives up on the attempt
				case <-r.Context().Done():
				case <-time.After(time.Hour):
				}
			}
			return okAnswer(t)
		}}
		endpoint, hc := startPipeServer(t, f)
		c := newFakeClient(t, endpoint, hc, func(cfg *ClientConfig) { cfg.Timeout = 5 * time.Second })

		start := time.Now()
		res, err := c.Sync(t.Context(), "user", []string{"a"}, "r")
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if got, want := time.Since(start), 5*time.Second+500*time.Millisecond; got != want {
			t.Errorf("took %v, want %v (timeout + first backoff)", got, want)
		}
		if diff := cmp.Diff(summary{Status: 200, Attempts: 2, Retries: 1, OK: true}, summarize(res)); diff != "" {
			t.Errorf("result (-want +got):\n%s", diff)
		}
	})
}

func TestClientClassify(t *testing.T) {
	ok := parseReply([]byte(`{"id":"api.data.sync","params":{"status":"SUCCESS"},"responseCode":"OK","result":{}}`))
	failed := parseReply([]byte(`{"params":{"status":"FAILED","err":"X"},"responseCode":"CLIENT_ERROR"}`))
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

	tests := []struct {
		name   string
		ctx    context.Context
		status int
		env    *reply
		err    error
		want   verdict
	}{
		{"200 envelope", live, 200, ok, nil, done},
		{"200 not an envelope", live, 200, nil, nil, retry},
		{"200 FAILED envelope", live, 200, failed, nil, rejected},
		{"401", live, 401, failed, nil, unauthorized},
		{"403", live, 403, nil, nil, unauthorized},
		{"408", live, 408, nil, nil, retry},
		{"429", live, 429, failed, nil, retry},
		{"500", live, 500, failed, nil, retry},
		{"502", live, 502, nil, nil, retry},
		{"503", live, 503, failed, nil, retry},
		{"504", live, 504, nil, nil, retry},
		{"501", live, 501, nil, nil, rejected},
		{"400", live, 400, failed, nil, rejected},
		{"404", live, 404, nil, nil, rejected},
		{"413", live, 413, failed, nil, rejected},
		{"301", live, 301, nil, nil, rejected},
		{"connection refused", live, 0, nil, refused, retry},
		{"connection reset", live, 0, nil, reset, retry},
		{"attempt timeout", live, 0, nil, context.DeadlineExceeded, retry},
		{"body cut short", live, 200, nil, io.ErrUnexpectedEOF, retry},
		{"untrusted certificate", live, 0, nil, fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), unreachable},
		{"caller cancelled", cancelled, 0, nil, context.Canceled, canceled},
		{"caller cancelled before a 503", cancelled, 503, nil, nil, canceled},
		{"success that raced a cancel", cancelled, 200, ok, nil, done},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.ctx, tt.status, tt.env, tt.err); got != tt.want {
				t.Errorf("classify(%d, %v) = %d, want %d", tt.status, tt.err, got, tt.want)
			}
		})
	}
}

// TestClientRetryAfterHeader: the wait a Retry-After header leads to, the
// header read by backoff.RetryAfter and capped by the client (jitter at 0,
// so a header without advice shows as no wait).
func TestClientRetryAfterHeader(t *testing.T) {
	c := newFakeClient(t, "http://sync.test"+RouteSync, nil, nil)
	c.retry.Jitter = func(int64) int64 { return 0 }
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"3", 3 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"99999999999", httpretry.DefaultMaxRetryAfter},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(time.Hour).Format(http.TimeFormat), httpretry.DefaultMaxRetryAfter},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.value != "" {
			h.Set("Retry-After", tt.value)
		}
		if got := c.retry.Wait(1, backoff.RetryAfter(h.Get("Retry-After"), now)); got != tt.want {
			t.Errorf("Retry-After %q: waits %v, want %v", tt.value, got, tt.want)
		}
	}
}

func TestNewClientValidation(t *testing.T) {
	tests := []struct {
		name     string
		cfg      ClientConfig
		wantErrs []string // substrings; none: valid
	}{
		{"valid", ClientConfig{Endpoint: "http://localhost:9000/v1/data/sync"}, nil},
		{"valid gateway", ClientConfig{Endpoint: "https://sunbird.example.org/api/data/v1/index/sync", Retries: 5}, nil},
		{"empty", ClientConfig{}, []string{"no Sync API endpoint", "--api-endpoint"}},
		{"no scheme", ClientConfig{Endpoint: "localhost:9000/v1/data/sync"}, []string{`"localhost:9000/v1/data/sync"`, "http:// or https://"}},
		{"template placeholder", ClientConfig{Endpoint: "{{domain}}/api/data/v1/index/sync"}, []string{`"{{domain}}/api/data/v1/index/sync"`, "placeholder"}},
		{"no host", ClientConfig{Endpoint: "http://:9000/v1/data/sync"}, []string{`"http://:9000/v1/data/sync"`, "no host"}},
		{"password redacted", ClientConfig{Endpoint: "ftp://u:hunter2@h/x"}, []string{"ftp://u:REDACTED@h/x"}},
		{"every problem at once", ClientConfig{Endpoint: "x", Retries: -1, Timeout: -time.Second}, []string{`"x"`, "retry count -1", "timeout -1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.cfg)
			if len(tt.wantErrs) == 0 {
				if err != nil || c == nil {
					t.Fatalf("NewClient: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewClient(%+v) = nil error, want one", tt.cfg)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q: want %q in it", err, want)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}
