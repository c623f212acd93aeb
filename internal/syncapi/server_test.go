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

// fakeLoader knows the ids in known; the others are not found. The
// documents of unwritable cannot be written (store.Result.Failed).
type fakeLoader struct {
	known      map[string]bool
	unwritable map[string]string
}

func (f fakeLoader) Documents(_ context.Context, _ sunbird.Kind, ids []string) (store.Result, error) {
	res := store.Result{Docs: map[string][]byte{}}
	for _, id := range ids {
		if reason, bad := f.unwritable[id]; bad {
			if res.Failed == nil {
				res.Failed = map[string]string{}
			}
			res.Failed[id] = reason
		} else if f.known == nil || f.known[id] {
			res.Docs[id] = []byte(`{"id":"` + id + `","identifier":"` + id + `"}`)
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

func (w *recordingWriter) Write(ctx context.Context, _ sunbird.Kind, docs map[string][]byte) (map[string]string, error) {
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
	if cfg.APIKeys == nil && (cfg.Auth == "" || cfg.Auth == AuthKeys) {
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
	code, env, _ := postHeader(t, h, path, key, body)
	return code, env
}

// postHeader is post, also returning the answer's headers.
func postHeader(t *testing.T, h http.Handler, path, key, body string) (int, Envelope, http.Header) {
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
	return rec.Code, env, rec.Header()
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func idsBody(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	b, _ := json.Marshal(map[string]any{"params": map[string]any{}, "request": map[string]any{"objectType": "user", "objectIds": ids}})
	return string(b)
}

func TestBadRequests(t *testing.T) {
	s := newTestServer(t, Config{MaxIDs: 10000, MaxBody: 1 << 20}, fakeLoader{}, &recordingWriter{})
	h := s.Handler()
	big := `{"request":{"objectType":"user","objectIds":["` + strings.Repeat("x", 2<<20) + `"]}}`
	const json, uos0061 = "application/json", "Mandatory header parameter Content-Type with value application/json is missing."
	tests := []struct {
		name        string
		method      string
		key         string
		contentType string
		body        string
		status      int
		code, err   string
		errmsg      string
	}{
		// Sunbird's own codes and messages where it has one for the fault
		{"no body", "POST", testKey, json, "", 400, "CLIENT_ERROR", "UOS_0061", uos0061},
		{"invalid JSON", "POST", testKey, json, `{"request":`, 400, "CLIENT_ERROR", "UOS_0061", uos0061},
		{"no Content-Type", "POST", testKey, "", `{"request":{"objectType":"user","objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0061", uos0061},
		{"form Content-Type", "POST", testKey, "application/x-www-form-urlencoded", `{"request":{"objectType":"user","objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0061", uos0061},
		{"request a string", "POST", testKey, json, `{"request":"user"}`, 400, "CLIENT_ERROR", "UOS_0028", "Requested data for this operation is not valid."},
		{"request a list", "POST", testKey, json, `{"request":[{"objectType":"user"}]}`, 400, "CLIENT_ERROR", "UOS_0028", "Requested data for this operation is not valid."},
		{"objectType missing", "POST", testKey, json, `{"request":{"objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0003", "Data type of {0} should be {1}."},
		{"request missing", "POST", testKey, json, `{"params":{}}`, 400, "CLIENT_ERROR", "UOS_0003", "Data type of {0} should be {1}."},
		{"objectType wrong case", "POST", testKey, json, `{"request":{"objectType":"User","objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0072", "Invalid Object Type."},
		{"objectType unknown", "POST", testKey, json, `{"request":{"objectType":"course","objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0072", "Invalid Object Type."},
		{"objectType not a string", "POST", testKey, json, `{"request":{"objectType":7,"objectIds":["a"]}}`, 400, "CLIENT_ERROR", "UOS_0072", "Invalid Object Type."},
		// ours, clearer, where Sunbird has none
		{"objectIds not a list", "POST", testKey, json, `{"request":{"objectType":"user","objectIds":"a,b"}}`, 400, "CLIENT_ERROR", "INVALID_OBJECT_IDS", "objectIds must be a list of strings"},
		{"non-string ids", "POST", testKey, json, `{"request":{"objectType":"user","objectIds":["a",42]}}`, 400, "CLIENT_ERROR", "INVALID_OBJECT_IDS", "objectIds[1] is 42, not a string"},
		{"null id", "POST", testKey, json, `{"request":{"objectType":"user","objectIds":[null]}}`, 400, "CLIENT_ERROR", "INVALID_OBJECT_IDS", "objectIds[0] is null"},
		{"operationType not a string", "POST", testKey, json, `{"request":{"objectType":"user","objectIds":["a"],"operationType":1}}`, 400, "CLIENT_ERROR", "INVALID_OPERATION_TYPE", "operationType must be the string"},
		{"10001 ids", "POST", testKey, json, idsBody(10001), 400, "CLIENT_ERROR", "TOO_MANY_IDS", "10001 objectIds in one call; the limit is 10000"},
		{"2 MiB body", "POST", testKey, json, big, 413, "CLIENT_ERROR", "REQUEST_TOO_LARGE", "larger than 1048576 bytes"},
		{"missing key", "POST", "", json, `{"request":{"objectType":"user","objectIds":["a"]}}`, 401, "UNAUTHORIZED", "UNAUTHORIZED", "missing API key"},
		{"wrong key", "POST", "nope", json, `{"request":{"objectType":"user","objectIds":["a"]}}`, 401, "UNAUTHORIZED", "UNAUTHORIZED", "the API key was not accepted"},
		{"wrong method", "GET", testKey, json, "", 405, "CLIENT_ERROR", "METHOD_NOT_ALLOWED", "use POST"},
	}
	for _, tt := range tests {
		for _, path := range []string{RouteSync, RouteGatewaySync} {
			t.Run(tt.name+path, func(t *testing.T) {
				req := httptest.NewRequest(tt.method, path, strings.NewReader(tt.body))
				if tt.key != "" {
					req.Header.Set("Authorization", "Bearer "+tt.key)
				}
				if tt.contentType != "" {
					req.Header.Set("Content-Type", tt.contentType)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.status {
					t.Errorf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body.String())
				}
				var env Envelope
				if err := jsonUnmarshal(rec.Body.Bytes(), &env); err != nil {
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

// TestServiceRouteLimits: by default the limits are those of Sunbird's
// service (50 MB bodies, any number of ids), not of its gateway route.
func TestServiceRouteLimits(t *testing.T) {
	s := newTestServer(t, Config{QueueSize: 200000}, fakeLoader{}, &recordingWriter{gate: make(chan struct{})})
	body := idsBody(20000)
	if code, env := post(t, s.Handler(), RouteSync, testKey, body); code != 200 {
		t.Errorf("20,000 ids: status %d %+v, want 200", code, env.Params)
	}
	var many []string // 3 MiB of ids
	for i := 0; i < 80000; i++ {
		many = append(many, fmt.Sprintf("%039d", i))
	}
	big, _ := json.Marshal(map[string]any{"request": map[string]any{"objectType": "user", "objectIds": many}})
	if code, env := post(t, s.Handler(), RouteSync, testKey, string(big)); code != 200 || len(big) < 3<<20 {
		t.Errorf("a %d-byte body: status %d %+v, want 200", len(big), code, env.Params)
	}
	// one id longer than Elasticsearch's limit of a document id: the call is
	// refused whole, before any id is queued, and the id is not echoed
	long := `{"request":{"objectType":"user","objectIds":["ok","` + strings.Repeat("x", 70000) + `"]}}`
	code, env := post(t, s.Handler(), RouteSync, testKey, long)
	if code != 400 || env.Params.ErrMsg == nil || !strings.Contains(*env.Params.ErrMsg, "objectIds[1]: id of 70000 bytes, longer than 512") || strings.Contains(*env.Params.ErrMsg, "xxxx") {
		t.Errorf("a 70,000-byte id: status %d %+v, want 400 naming it without echoing it", code, env.Params)
	}
}

// TestOperationTypeIgnoresCase: Sunbird compares operationType ignoring case.
func TestOperationTypeIgnoresCase(t *testing.T) {
	s := newTestServer(t, Config{}, fakeLoader{}, &recordingWriter{})
	for _, op := range []string{"sync", "SYNC", "Sync"} {
		code, env := post(t, s.Handler(), RouteSync, testKey, `{"request":{"objectType":"user","objectIds":["a"],"operationType":"`+op+`"}}`)
		if code != 200 || env.Result["esSyncResponse"] == nil {
			t.Errorf("operationType %q: status %d, result %v; want a sync-mode answer", op, code, env.Result)
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
	s := newTestServer(t, Config{}, fakeLoader{known: map[string]bool{"a": true, "b": true, "bad": true},
		unwritable: map[string]string{"nan": `encode document: field "score": unsupported number NaN`}}, w)
	code, env := post(t, s.Handler(), RouteSync, testKey,
		`{"request":{"objectType":"user","objectIds":["a"," b ","a","missing","bad","nan"],"operationType":"sync"}}`)
	if code != 200 {
		t.Fatalf("status %d %+v", code, env)
	}
	// Sunbird's shape (failed users as "<id>": false beside response) and
	// ours (every id in esSyncResponse); " b " is not "b": ids are not trimmed
	want := map[string]any{"response": "SUCCESS", "esSyncResponse": map[string]any{"a": true, " b ": false, "missing": false, "bad": false, "nan": false},
		" b ": false, "missing": false, "bad": false, "nan": false}
	if diff := cmp.Diff(want, env.Result); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	// organisations and locations: failed ids in esSyncResponse only; no ids,
	// no esSyncResponse
	if w.written["a"] != 1 || w.written["nan"] != 0 {
		t.Errorf("a indexed %d times, nan %d times; want once and never", w.written["a"], w.written["nan"])
	}
	_, env = post(t, s.Handler(), RouteSync, testKey, `{"request":{"objectType":"organisation","objectIds":["a","missing"],"operationType":"sync"}}`)
	if diff := cmp.Diff(map[string]any{"response": "SUCCESS", "esSyncResponse": map[string]any{"a": true, "missing": false}}, env.Result); diff != "" {
		t.Errorf("organisation result (-want +got):\n%s", diff)
	}
	_, env = post(t, s.Handler(), RouteSync, testKey, `{"request":{"objectType":"user","objectIds":[],"operationType":"sync"}}`)
	if diff := cmp.Diff(map[string]any{"response": "SUCCESS"}, env.Result); diff != "" {
		t.Errorf("no ids: result (-want +got):\n%s", diff)
	}
	// an id that would overwrite "response" stays in esSyncResponse only
	_, env = post(t, s.Handler(), RouteSync, testKey, `{"request":{"objectType":"user","objectIds":["response"],"operationType":"sync"}}`)
	if env.Result["response"] != "SUCCESS" {
		t.Errorf("the id \"response\" overwrote the answer: %v", env.Result)
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
	go func() { done <- s.Run(ctx, ln, nil) }()

	accepted := map[string]bool{}
	var got503 bool
	for block := 0; block < 10; block++ {
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = fmt.Sprintf("b%d-%d", block, i)
		}
		body, _ := json.Marshal(map[string]any{"request": map[string]any{"objectType": "user", "objectIds": ids}})
		code, env, h := postHeader(t, s.Handler(), RouteSync, testKey, string(body))
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
			if ra := h.Get("Retry-After"); ra != "1" {
				t.Errorf("503 QUEUE_FULL: Retry-After %q, want 1 (second)", ra)
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
	go func() { done <- s.Run(ctx, ln, nil) }()
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
	go func() { done <- s.Run(ctx, ln, nil) }()
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
	for _, cfg := range []Config{{}, {Auth: AuthKeys}, {Auth: AuthJWT}} {
		_, err := New(cfg, fakeLoader{}, &recordingWriter{}, slog.Default(), prometheus.NewRegistry())
		if err == nil || !strings.Contains(err.Error(), "--auth") {
			t.Errorf("%+v: err = %v, want one naming --auth", cfg.Auth, err)
		}
	}
}

func TestMetricsAndStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{Auth: AuthNone, Gatherer: reg, StateDir: t.TempDir()}, fakeLoader{}, &recordingWriter{}, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	post(t, h, RouteSync, "", idsBody(3))
	admin := s.AdminHandler()
	for path, want := range map[string]string{"/metrics": `indexsync_sync_ids_total{mode="background",object_type="user",outcome="queued"} 3`, "/": "indexsync Sync API"} {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte(want)) {
			t.Errorf("admin GET %s: %d, body lacks %q", path, rec.Code, want)
		}
		// not on the main address, which anyone who can call the API reaches
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code == 200 {
			t.Errorf("main GET %s: 200, want it only on the admin address", path)
		}
	}
}

// TestHealthChecksApart: a backend that hangs is named as the one that
// hangs, the other check still answers, and the answer comes within the
// check's deadline; the main address says only healthy or not.
func TestHealthChecksApart(t *testing.T) {
	hang := make(chan struct{})
	defer close(hang)
	s := newTestServer(t, Config{Auth: AuthNone, Health: map[string]func(context.Context) error{
		"cassandra": func(ctx context.Context) error { return nil },
		"search": func(ctx context.Context) error {
			select { // an engine that accepts the connection and never answers
			case <-hang:
			case <-ctx.Done():
			}
			return ctx.Err()
		},
		"stuck": func(context.Context) error { <-hang; return nil }, // ignores its deadline
	}}, fakeLoader{}, &recordingWriter{})
	start := time.Now()
	rec := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	took := time.Since(start)
	var got struct {
		Healthy bool              `json:"healthy"`
		Checks  map[string]string `json:"checks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"cassandra": "ok", "search": "no answer within 3s", "stuck": "no answer within 3s"}
	if rec.Code != 503 || got.Healthy || !cmp.Equal(got.Checks, want) {
		t.Errorf("admin /health: %d %s, want 503 with %v", rec.Code, rec.Body.String(), want)
	}
	if took > HealthTimeout+2*time.Second {
		t.Errorf("/health took %s", took)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if rec.Code != 503 || strings.TrimSpace(rec.Body.String()) != `{"healthy":false}` {
		t.Errorf("main /health: %d %s, want 503 {\"healthy\":false} and no detail", rec.Code, rec.Body.String())
	}
}

func TestOneServePerJournal(t *testing.T) {
	dir := t.TempDir()
	newTestServer(t, Config{StateDir: dir}, fakeLoader{}, &recordingWriter{})
	_, err := New(Config{Auth: AuthNone, StateDir: dir}, fakeLoader{}, &recordingWriter{}, slog.Default(), prometheus.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "in use by another indexsync serve") {
		t.Fatalf("a second serve on the same --state-dir: err = %v", err)
	}
}
