package syncapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// fakeLoader knows the ids in known; the others are not found.
type fakeLoader struct{ known map[string]bool }

func (f fakeLoader) Documents(_ context.Context, objectType string, ids []string) (store.Result, error) {
	res := store.Result{Docs: map[string]sunbird.Document{}}
	for _, id := range ids {
		if f.known == nil || f.known[id] {
			res.Docs[id] = sunbird.Document{"id": id, "identifier": id}
		} else {
			res.NotFound = append(res.NotFound, id)
		}
	}
	return res, nil
}

// recordingWriter records what was indexed; gate, when set, blocks writes
// until closed.
type recordingWriter struct {
	mu      sync.Mutex
	written map[string]int
	gate    chan struct{}
	reject  map[string]string
}

func (w *recordingWriter) Write(ctx context.Context, _ string, docs map[string]sunbird.Document) (map[string]string, error) {
	if w.gate != nil {
		select {
		case <-w.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.written == nil {
		w.written = map[string]int{}
	}
	failed := map[string]string{}
	for id := range docs {
		if r, bad := w.reject[id]; bad {
			failed[id] = r
			continue
		}
		w.written[id]++
	}
	return failed, nil
}

func (w *recordingWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.written)
}

const testKey = "k-123456"

func newTestServer(t *testing.T, cfg Config, l Loader, w Writer) *Server {
	t.Helper()
	if cfg.APIKeys == nil && !cfg.InsecureNoAuth {
		cfg.APIKeys = []secret.String{secret.New("other-key"), secret.New(testKey)}
	}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	s, err := New(cfg, l, w, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func post(t *testing.T, h http.Handler, path, key, body string) (int, Envelope) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var env Envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("reply is not an envelope: %v: %s", err, rec.Body.String())
	}
	return rec.Code, env
}

func idsBody(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	b, _ := json.Marshal(map[string]any{"params": map[string]any{}, "request": map[string]any{"objectType": "user", "objectIds": ids}})
	return string(b)
}

func TestBadRequests(t *testing.T) {
	s := newTestServer(t, Config{}, fakeLoader{}, &recordingWriter{})
	h := s.Handler()
	big := `{"request":{"objectType":"user","objectIds":["` + strings.Repeat("x", 2<<20) + `"]}}`
	tests := []struct {
		name      string
		method    string
		key       string
		body      string
		status    int
		code, err string
		errmsg    string
	}{
		{"no body", "POST", testKey, "", 400, "CLIENT_ERROR", "INVALID_REQUEST", "request body is empty"},
		{"invalid JSON", "POST", testKey, `{"request":`, 400, "CLIENT_ERROR", "INVALID_REQUEST", "not valid JSON"},
		{"objectType missing", "POST", testKey, `{"request":{"objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0003", "Data type of {0} should be {1}."},
		{"request missing", "POST", testKey, `{"params":{}}`, 400, "CLIENT_ERROR", "UOS_0003", "Data type of {0} should be {1}."},
		{"objectType wrong case", "POST", testKey, `{"request":{"objectType":"User","objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0072", "Invalid Object Type."},
		{"objectType unknown", "POST", testKey, `{"request":{"objectType":"course","objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0072", "Invalid Object Type."},
		{"objectType not a string", "POST", testKey, `{"request":{"objectType":7,"objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0003", "Data type of {0} should be {1}."},
		{"objectIds not a list", "POST", testKey, `{"request":{"objectType":"user","objectIds":"a,b"}}`, 400, "CLIENT_ERROR", "INVALID_OBJECT_IDS", "objectIds must be a list of strings"},
		{"non-string ids", "POST", testKey, `{"request":{"objectType":"user","objectIds":["a",42]}}`, 400, "CLIENT_ERROR", "INVALID_OBJECT_IDS", "objectIds[1] is 42, not a string"},
		{"null id", "POST", testKey, `{"request":{"objectType":"user","objectIds":[null]}}`, 400, "CLIENT_ERROR", "INVALID_OBJECT_IDS", "objectIds[0] is null"},
		{"10001 ids", "POST", testKey, idsBody(10001), 400, "CLIENT_ERROR", "TOO_MANY_IDS", "10001 objectIds in one call; the limit is 10000"},
		{"2 MiB body", "POST", testKey, big, 413, "CLIENT_ERROR", "REQUEST_TOO_LARGE", "larger than 1048576 bytes"},
		{"missing key", "POST", "", `{"request":{"objectType":"user","objectIds":["a"]}}`, 401, "UNAUTHORIZED", "UNAUTHORIZED", "missing API key"},
		{"wrong key", "POST", "nope", `{"request":{"objectType":"user","objectIds":["a"]}}`, 401, "UNAUTHORIZED", "UNAUTHORIZED", "the API key was not accepted"},
		{"wrong method", "GET", testKey, "", 405, "CLIENT_ERROR", "METHOD_NOT_ALLOWED", "use POST"},
	}
	for _, tt := range tests {
		for _, path := range []string{RouteSync, RouteGatewaySync} {
			t.Run(tt.name+path, func(t *testing.T) {
				req := httptest.NewRequest(tt.method, path, strings.NewReader(tt.body))
				if tt.key != "" {
					req.Header.Set("Authorization", "Bearer "+tt.key)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.status {
					t.Errorf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body.String())
				}
				var env Envelope
				if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
					t.Fatalf("not an envelope: %v", err)
				}
				if env.ID != "api.data.sync" || env.Ver != "v1" || env.ResponseCode != tt.code || env.Params.Status != "FAILED" {
					t.Errorf("envelope = %+v", env)
				}
				if env.Params.Err == nil || *env.Params.Err != tt.err {
					t.Errorf("params.err = %v, want %s", env.Params.Err, tt.err)
				}
				if env.Params.ErrMsg == nil || !strings.Contains(*env.Params.ErrMsg, tt.errmsg) {
					t.Errorf("params.errmsg = %v, want it to contain %q", env.Params.ErrMsg, tt.errmsg)
				}
			})
		}
	}
}

var tsFormat = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}:\d{3}\+0000$`)

// TestOldJobBody: the body UserSync_run.sh sends gets Sunbird's envelope.
func TestOldJobBody(t *testing.T) {
	w := &recordingWriter{}
	s := newTestServer(t, Config{Workers: 1}, fakeLoader{}, w)
	body := `{"params":{},"request":{"objectType":"user","objectIds":["u1","u2"],"operationFor":"es"}}`
	req := httptest.NewRequest(http.MethodPost, RouteGatewaySync, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("X-Request-ID", "req-42")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
	}
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	ts, _ := raw["ts"].(string)
	if !tsFormat.MatchString(ts) {
		t.Errorf("ts = %q, want Sunbird's 2023-09-20 12:02:24:452+0000 form", ts)
	}
	delete(raw, "ts")
	want := map[string]any{
		"id": "api.data.sync", "ver": "v1", "responseCode": "OK",
		"params": map[string]any{"resmsgid": "req-42", "msgid": "req-42", "err": nil, "status": "SUCCESS", "errmsg": nil},
		"result": map[string]any{"response": "SUCCESS"},
	}
	if diff := cmp.Diff(want, raw); diff != "" {
		t.Errorf("envelope (-want +got):\n%s", diff)
	}
	if n := s.queue.Len(); n != 2 {
		t.Errorf("queue holds %d ids, want 2", n)
	}
}

func TestSyncModeReportsPerID(t *testing.T) {
	w := &recordingWriter{reject: map[string]string{"bad": "mapper_parsing_exception: failed to parse field [dob]"}}
	s := newTestServer(t, Config{}, fakeLoader{known: map[string]bool{"a": true, "b": true, "bad": true}}, w)
	code, env := post(t, s.Handler(), RouteSync, testKey,
		`{"request":{"objectType":"user","objectIds":["a"," b ","a","missing","bad"],"operationType":"sync"}}`)
	if code != 200 {
		t.Fatalf("status %d %+v", code, env)
	}
	want := map[string]any{"response": "SUCCESS", "esSyncResponse": map[string]any{"a": true, "b": true, "missing": false, "bad": false}}
	if diff := cmp.Diff(want, env.Result); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if w.written["a"] != 1 {
		t.Errorf("a indexed %d times, want once", w.written["a"])
	}
}

func TestQueueFullGives503AndLosesNothing(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{})}
	s := newTestServer(t, Config{QueueSize: 250, Workers: 1, BatchSize: 100}, fakeLoader{}, w)
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()

	accepted := map[string]bool{}
	var got503 bool
	for block := 0; block < 10; block++ {
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = fmt.Sprintf("b%d-%d", block, i)
		}
		body, _ := json.Marshal(map[string]any{"request": map[string]any{"objectType": "user", "objectIds": ids}})
		code, env := post(t, s.Handler(), RouteSync, testKey, string(body))
		switch code {
		case 200:
			for _, id := range ids {
				accepted[id] = true
			}
		case 503:
			got503 = true
			if env.ResponseCode != "SERVICE_UNAVAILABLE" || *env.Params.Err != "QUEUE_FULL" {
				t.Errorf("503 envelope = %+v", env)
			}
		default:
			t.Fatalf("status %d", code)
		}
	}
	if !got503 {
		t.Fatal("the queue never filled")
	}
	close(w.gate)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for id := range accepted {
		if w.written[id] != 1 {
			t.Errorf("accepted id %s indexed %d times", id, w.written[id])
		}
	}
	if len(w.written) != len(accepted) {
		t.Errorf("indexed %d ids, accepted %d", len(w.written), len(accepted))
	}
}

func TestShutdownDrainsQueue(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{})}
	s := newTestServer(t, Config{QueueSize: 10000, Workers: 2, BatchSize: 50}, fakeLoader{}, w)
	ctx, cancel := context.WithCancel(context.Background())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	for b := 0; b < 10; b++ {
		if code, _ := post(t, s.Handler(), RouteSync, testKey, idsBody(100)); code != 200 {
			t.Fatalf("status %d", code)
		}
		// vary ids per block
		body := strings.ReplaceAll(idsBody(100), `"id-`, fmt.Sprintf(`"b%d-`, b))
		post(t, s.Handler(), RouteSync, testKey, body)
	}
	cancel() // SIGTERM with a full queue
	time.Sleep(50 * time.Millisecond)
	close(w.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := w.count(); got != 1100 {
		t.Errorf("indexed %d distinct ids before exit, want 1100", got)
	}
	if s.queue.Len() != 0 {
		t.Errorf("queue still holds %d", s.queue.Len())
	}
}

func TestShutdownTimeoutSavesIDs(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{})} // never opens
	dir := t.TempDir()
	s := newTestServer(t, Config{QueueSize: 1000, Workers: 1, BatchSize: 10, ShutdownTimeout: 200 * time.Millisecond, StateDir: dir}, fakeLoader{}, w)
	ctx, cancel := context.WithCancel(context.Background())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	post(t, s.Handler(), RouteSync, testKey, idsBody(100))
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "serve-failed-user_*.txt"))
	if len(files) != 1 {
		t.Fatalf("unsynced files: %v", files)
	}
	data, _ := os.ReadFile(files[0])
	lines := strings.Fields(string(data))
	// the batch cut off in flight and the ids still queued are all saved
	if len(lines) != 100 {
		t.Errorf("saved %d ids, want all 100 (the cut-off batch and the queued ones)", len(lines))
	}
	sort.Strings(lines)
	if lines[0] == "" {
		t.Error("empty id saved")
	}
}

func TestNoKeyRefusesToStart(t *testing.T) {
	_, err := New(Config{}, fakeLoader{}, &recordingWriter{}, slog.Default(), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "--insecure-no-auth") {
		t.Errorf("err = %v", err)
	}
}

func TestMetricsAndStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{InsecureNoAuth: true, Gatherer: reg}, fakeLoader{}, &recordingWriter{}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	post(t, h, RouteSync, "", idsBody(3))
	for path, want := range map[string]string{"/metrics": `indexsync_sync_ids_total{mode="background",object_type="user",outcome="queued"} 3`, "/": "indexsync Sync API"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(want)) {
			t.Errorf("GET %s: %d, body lacks %q", path, rec.Code, want)
		}
	}
}
