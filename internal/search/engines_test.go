package search_test

// The engine differences of dialect.go, provoked on the real engines of the
// test stack (testinfra/stack.sh: OpenSearch 2.19, Elasticsearch 6.8, 7.17
// and 8.x). Each test first shows the engine's own answer with a plain HTTP
// call — what a client that guessed the version wrong would get — and then
// that the client, with the dialect it detects, does the right thing; with a
// dialect forced to the wrong version, it fails loudly instead of quietly.
// The README's table of engine differences names these tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/testenv"
)

// forEngine runs fn once per engine of testenv.Engines, as a subtest named
// after the engine.
func forEngine(t *testing.T, fn func(t *testing.T, e testenv.Engine)) {
	t.Helper()
	for _, e := range testenv.Engines(t) {
		t.Run(e.Name, func(t *testing.T) { fn(t, e) })
	}
}

// The engine families, by the names testinfra/stack.sh gives them.
func is6(e testenv.Engine) bool  { return e.Name == "elasticsearch-6.8" }
func is7(e testenv.Engine) bool  { return e.Name == "elasticsearch-7.17" }
func is8(e testenv.Engine) bool  { return e.Name == "elasticsearch-8" }
func isOS(e testenv.Engine) bool { return strings.HasPrefix(e.Name, "opensearch-") }

// typelessOnly: the engines that have no mapping types at all (8.x,
// OpenSearch): _type in a bulk action is an error, and /{i}/_doc/{x} is a
// document's address.
func typelessOnly(e testenv.Engine) bool { return is8(e) || isOS(e) }

// rawAnswer is an engine's answer to a plain HTTP call.
type rawAnswer struct {
	Status int
	Header http.Header
	Body   string
}

// errorType is the top "error.type" of an error body ("" when error is a
// string or absent).
func (a rawAnswer) errorType() string {
	var b struct {
		Error json.RawMessage `json:"error"`
	}
	_ = json.Unmarshal([]byte(a.Body), &b)
	var o struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b.Error, &o)
	return o.Type
}

// raw sends one request with net/http alone: the engine's own answer,
// without anything of our client in between.
func raw(t *testing.T, method, u, contentType, body string) rawAnswer {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawAnswer{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func newClient(t *testing.T, u string, mod ...func(*search.Config)) *search.Client {
	t.Helper()
	cfg := search.Config{URLs: []string{u}, Retries: 3, RetryBase: time.Millisecond, RetryMax: 10 * time.Millisecond}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := search.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testIndexBody is a small index written typeless; CreateIndex puts the
// mapping under _doc on 6.x.
const testIndexBody = `{"settings":{"number_of_shards":1,"number_of_replicas":0},"mappings":{"dynamic":false,"properties":{"a":{"type":"keyword"},"n":{"type":"long"}}}}`

// newIndex creates a private index through the client and deletes it when
// the test ends.
func newIndex(t *testing.T, c *search.Client, prefix string) string {
	t.Helper()
	name := testenv.Name("it_" + prefix)
	if err := c.CreateIndex(context.Background(), name, []byte(testIndexBody)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.DeleteIndex(context.Background(), name) })
	return name
}

// index writes docs (id → source) with the client and refreshes.
func index(t *testing.T, c *search.Client, idx string, docs map[string]string) {
	t.Helper()
	var items []search.BulkItem
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range docs {
			if !yield(id) {
				return
			}
		}
	}) {
		items = append(items, search.BulkItem{ID: id, Doc: json.RawMessage(docs[id])})
	}
	res, err := c.Bulk(context.Background(), idx, items)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.OK {
			t.Fatalf("bulk %s: %+v", r.ID, r)
		}
	}
	if err := c.Refresh(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, c *search.Client, idx string) int64 {
	t.Helper()
	if err := c.Refresh(context.Background(), idx); err != nil {
		t.Fatal(err)
	}
	n, err := c.Count(context.Background(), idx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// recorder is a reverse proxy in front of a real engine that records each
// request and lets a test change the answers (headers, status) on the way.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []string          // "METHOD /path"
	bodies map[string]string // the last request body per "METHOD /path"
	warned int               // answers that carried a Warning header
	modify func(*http.Response)
}

func newRecorder(t *testing.T, engineURL string) *recorder {
	t.Helper()
	target, err := url.Parse(engineURL)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{bodies: map[string]string{}}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		if pr.Out.Body != nil {
			b, _ := io.ReadAll(pr.Out.Body)
			pr.Out.Body = io.NopCloser(bytes.NewReader(b))
			rec.mu.Lock()
			rec.bodies[pr.Out.Method+" "+pr.In.URL.Path] = string(b)
			rec.mu.Unlock()
		}
	}}
	proxy.ModifyResponse = func(resp *http.Response) error {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		rec.seen = append(rec.seen, resp.Request.Method+" "+resp.Request.URL.Path)
		if len(resp.Header.Values("Warning")) > 0 {
			rec.warned++
		}
		if rec.modify != nil {
			rec.modify(resp)
		}
		return nil
	}
	rec.srv = httptest.NewServer(proxy)
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// TestEnginesDetectVersion: the engine and version come from the body of
// GET / (version.distribution for OpenSearch, version.number), never from the
// X-Elastic-Product header, which only 7.17 and 8.x send: a proxy that adds
// the header to every answer, or removes it, changes nothing.
func TestEnginesDetectVersion(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		a := raw(t, http.MethodGet, e.URL+"/", "", "")
		var root struct {
			Version struct{ Number, Distribution string } `json:"version"`
		}
		if err := json.Unmarshal([]byte(a.Body), &root); err != nil || a.Status != 200 {
			t.Fatalf("GET /: %d %s", a.Status, a.Body)
		}
		if got, want := a.Header.Get("X-Elastic-Product") != "", is7(e) || is8(e); got != want {
			t.Errorf("the engine's GET / has X-Elastic-Product: %v, want %v", got, want)
		}
		if got := root.Version.Distribution == "opensearch"; got != isOS(e) {
			t.Errorf("version.distribution %q", root.Version.Distribution)
		}
		check := func(t *testing.T, u string) {
			t.Helper()
			info, err := newClient(t, u).Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			testenv.CheckEngine(t, e.Name, info)
			if info.Number != root.Version.Number {
				t.Errorf("detected %s, the engine says %s", info, root.Version.Number)
			}
		}
		t.Run("direct", func(t *testing.T) { check(t, e.URL) })
		t.Run("proxy adds X-Elastic-Product", func(t *testing.T) {
			rec := newRecorder(t, e.URL)
			rec.modify = func(r *http.Response) { r.Header.Set("X-Elastic-Product", "Elasticsearch") }
			check(t, rec.srv.URL)
		})
		t.Run("proxy removes X-Elastic-Product", func(t *testing.T) {
			rec := newRecorder(t, e.URL)
			rec.modify = func(r *http.Response) { r.Header.Del("X-Elastic-Product") }
			check(t, rec.srv.URL)
		})
	})
}

// TestEnginesTypedPathsOnlyAfterDetection: a client's first request that
// depends on the version asks GET / first; the typed _mget path goes out
// only to 6.x; and when GET / fails, no guess is sent at all.
func TestEnginesTypedPathsOnlyAfterDetection(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		idx := newIndex(t, newClient(t, e.URL), "paths")
		rec := newRecorder(t, e.URL)
		c := newClient(t, rec.srv.URL)
		if _, err := c.MGet(context.Background(), idx, []string{"u1"}); err != nil {
			t.Fatal(err)
		}
		mget := "POST /" + idx + "/_mget"
		if is6(e) {
			mget = "POST /" + idx + "/_doc/_mget"
		}
		if diff := cmp.Diff([]string{"GET /", mget}, rec.requests()); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}

		failing := newRecorder(t, e.URL)
		failing.modify = func(r *http.Response) {
			if r.Request.URL.Path == "/" {
				r.StatusCode = http.StatusBadGateway
			}
		}
		c = newClient(t, failing.srv.URL, func(cfg *search.Config) { cfg.Retries = 0 })
		if _, err := c.MGet(context.Background(), idx, []string{"u1"}); err == nil {
			t.Fatal("MGet succeeded without a detected version")
		}
		if diff := cmp.Diff([]string{"GET /"}, failing.requests()); diff != "" {
			t.Errorf("with GET / failing, requests (-want +got):\n%s", diff)
		}
	})
}

// TestEnginesBulkActionType: 6.8 refuses a whole bulk request whose action
// lines lack _type ("type is missing"); 8.x and OpenSearch refuse a whole
// request whose action lines have it; 7.17 takes both (with a deprecation
// warning for _type). The client writes what the detected engine takes, and
// with the dialect forced wrong it reports the refusal without retrying.
func TestEnginesBulkActionType(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		c := newClient(t, e.URL)
		idx := newIndex(t, c, "bulktype")
		typeless := fmt.Sprintf("{\"index\":{\"_index\":%q,\"_id\":\"a\"}}\n{\"a\":\"x\"}\n", idx)
		typed := fmt.Sprintf("{\"index\":{\"_index\":%q,\"_type\":\"_doc\",\"_id\":\"b\"}}\n{\"a\":\"y\"}\n", idx)

		got := raw(t, http.MethodPost, e.URL+"/_bulk", "application/x-ndjson", typeless)
		if is6(e) {
			if got.Status != 400 || got.errorType() != "action_request_validation_exception" || !strings.Contains(got.Body, "type is missing") {
				t.Errorf("6.8, bulk without _type: %d %s; want the whole request refused (400, type is missing)", got.Status, got.Body)
			}
		} else if got.Status != 200 || strings.Contains(got.Body, `"errors":true`) {
			t.Errorf("bulk without _type: %d %s; want it indexed", got.Status, got.Body)
		}

		got = raw(t, http.MethodPost, e.URL+"/_bulk", "application/x-ndjson", typed)
		switch {
		case typelessOnly(e):
			if got.Status != 400 || !strings.Contains(got.Body, "unknown parameter [_type]") {
				t.Errorf("bulk with _type: %d %s; want the whole request refused (400, unknown parameter [_type])", got.Status, got.Body)
			}
		case is7(e):
			if got.Status != 200 || !strings.Contains(strings.Join(got.Header.Values("Warning"), " "), "[types removal]") {
				t.Errorf("7.17, bulk with _type: %d %v; want it indexed with a [types removal] warning", got.Status, got.Header.Values("Warning"))
			}
		default:
			if got.Status != 200 || strings.Contains(got.Body, `"errors":true`) {
				t.Errorf("6.8, bulk with _type: %d %s; want it indexed", got.Status, got.Body)
			}
		}

		// the client, with the dialect it detected
		idx2 := newIndex(t, c, "bulkclient")
		docs := map[string]string{"u1": `{"a":"one","n":1}`, "u2": `{"a":"two","n":2}`, "u3": `{"n":3,"a":"three"}`}
		index(t, c, idx2, docs)
		got2, err := c.MGet(context.Background(), idx2, []string{"u1", "u2", "u3"})
		if err != nil {
			t.Fatal(err)
		}
		for id, want := range docs {
			if string(got2[id]) != want {
				t.Errorf("%s: stored %s, want %s byte for byte", id, got2[id], want)
			}
		}

		// the dialect forced wrong: refused whole, reported, not retried
		wrong := newClient(t, e.URL)
		switch {
		case is6(e):
			search.ForceDialect(wrong, search.Elasticsearch, "7.17.29")
		case typelessOnly(e):
			search.ForceDialect(wrong, search.Elasticsearch, "6.8.23")
		default:
			return // 7.17 takes both forms
		}
		before := wrong.Stats().Requests
		res, err := wrong.Bulk(context.Background(), idx2, []search.BulkItem{{ID: "w1", Doc: json.RawMessage(`{"a":"w"}`)}})
		var he *search.HTTPError
		if !errors.As(err, &he) || he.Status != 400 {
			t.Fatalf("wrong dialect: got %v, want an HTTP 400 for the whole request", err)
		}
		if n := wrong.Stats().Requests - before; n != 1 {
			t.Errorf("the refused bulk was sent %d times, want once", n)
		}
		if res[0].OK || res[0].Error == "" {
			t.Errorf("item %+v, want it failed with the request's error", res[0])
		}
		t.Logf("wrong dialect: %v", err)
	})
}

// TestEnginesCreateIndexMappingTypes: 6.8 refuses typeless mappings, 7+ and
// OpenSearch refuse them under a type; CreateIndex takes either and adapts,
// and GetIndexDefinition gives the mapping back typeless on every engine.
func TestEnginesCreateIndexMappingTypes(t *testing.T) {
	props := `{"properties":{"a":{"type":"keyword"}}}`
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		c := newClient(t, e.URL)
		for _, form := range []struct{ name, body string }{
			{"typeless", `{"settings":{"number_of_shards":1,"number_of_replicas":0},"mappings":` + props + `}`},
			{"typed", `{"settings":{"number_of_shards":1,"number_of_replicas":0},"mappings":{"_doc":` + props + `}}`},
		} {
			t.Run(form.name, func(t *testing.T) {
				name := testenv.Name("it_raw_create")
				got := raw(t, http.MethodPut, e.URL+"/"+name, "application/json", form.body)
				t.Cleanup(func() { _ = c.DeleteIndex(context.Background(), name) })
				refused := (form.name == "typeless") == is6(e)
				if refused && (got.Status != 400 || (got.errorType() != "mapper_parsing_exception" && got.errorType() != "illegal_argument_exception")) {
					t.Errorf("raw %s create: %d %s; want it refused", form.name, got.Status, got.Body)
				}
				if !refused && got.Status != 200 {
					t.Errorf("raw %s create: %d %s; want it created", form.name, got.Status, got.Body)
				}

				mine := testenv.Name("it_create")
				if err := c.CreateIndex(context.Background(), mine, []byte(form.body)); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.DeleteIndex(context.Background(), mine) })
				def, err := c.GetIndexDefinition(context.Background(), mine)
				if err != nil {
					t.Fatal(err)
				}
				if string(def.Mappings) != props || (def.DocType == "_doc") != is6(e) {
					t.Errorf("definition: mappings %s, type %q; want %s, _doc on 6.8 only", def.Mappings, def.DocType, props)
				}
			})
		}
	})
}

// TestEnginesTypedReadPathWrites: on 8.x and OpenSearch, POST
// /{i}/_doc/_mget and /{i}/_doc/_search — 6.x's typed reads — index a
// document named "_mget" or "_search" (HTTP 201). The client never sends
// them there; and when a read is answered like that (here: the dialect
// forced to 6.8), it is an error that says so, and the document it created
// is deleted again — a document of that name that existed before is left.
func TestEnginesTypedReadPathWrites(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		c := newClient(t, e.URL)
		idx := newIndex(t, c, "typedread")
		index(t, c, idx, map[string]string{"u1": `{"a":"one"}`, "u2": `{"a":"two"}`})
		for _, endpoint := range []struct{ path, body string }{
			{"/_doc/_mget", `{"ids":["u1"]}`},
			{"/_doc/_search", `{"size":0}`},
		} {
			got := raw(t, http.MethodPost, e.URL+"/"+idx+endpoint.path, "application/json", endpoint.body)
			junk := strings.TrimPrefix(endpoint.path, "/_doc/")
			if typelessOnly(e) {
				var ack struct{ ID, Result string }
				_ = json.Unmarshal([]byte(strings.NewReplacer(`"_id"`, `"id"`).Replace(got.Body)), &ack)
				if got.Status != 201 || ack.Result != "created" || ack.ID != junk {
					t.Errorf("POST %s: %d %s; want a document %s created (201)", endpoint.path, got.Status, got.Body, junk)
				}
			} else if got.Status != 200 || strings.Contains(got.Body, `"result"`) {
				t.Errorf("POST %s: %d %s; want the read's answer", endpoint.path, got.Status, got.Body)
			}
		}
		wantJunk := int64(0)
		if typelessOnly(e) {
			wantJunk = 2
		}
		if n := count(t, c, idx); n != 2+wantJunk {
			t.Errorf("%s holds %d documents after the raw calls, want %d", idx, n, 2+wantJunk)
		}

		// the client, detected: reads, and nothing written
		clean := newIndex(t, c, "typedread_clean")
		index(t, c, clean, map[string]string{"u1": `{"a":"one"}`, "u2": `{"a":"two"}`})
		if got, err := c.MGet(ctx, clean, []string{"u1", "u2", "u9"}); err != nil || len(got) != 2 {
			t.Errorf("MGet: %d documents, %v; want 2", len(got), err)
		}
		var ids []string
		if err := c.ScanIDs(ctx, clean, search.ScanOptions{}, func(p search.ScanPage) error { ids = append(ids, p.IDs...); return nil }); err != nil {
			t.Fatal(err)
		}
		if n := count(t, c, clean); n != 2 || len(ids) != 2 {
			t.Errorf("after the client's reads %s holds %d documents (scan saw %d), want 2", clean, n, len(ids))
		}

		// the client, forced to 6.8's paths
		wrong := newClient(t, e.URL)
		search.ForceDialect(wrong, search.Elasticsearch, "6.8.23")
		_, err := wrong.MGet(ctx, clean, []string{"u1"})
		if !typelessOnly(e) {
			if err != nil {
				t.Errorf("typed _mget on %s: %v", e.Name, err)
			}
			return
		}
		var rw *search.ReadWroteError
		if !errors.As(err, &rw) {
			t.Fatalf("MGet on a typed path: got %v, want a *search.ReadWroteError", err)
		}
		if rw.Status != 201 || rw.ID != "_mget" || rw.Result != "created" || !rw.Deleted || search.Retryable(0, err) {
			t.Errorf("error %+v: want 201, _mget created and deleted again, not retryable", rw)
		}
		for _, s := range []string{"answered a read with a write", "a bug in indexsync", "deleted that document again"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("message %q lacks %q", err, s)
			}
		}
		if n := count(t, c, clean); n != 2 {
			t.Errorf("after the failed read %s holds %d documents, want 2 (the junk deleted)", clean, n)
		}
		t.Logf("forced typed read on %s: %v", e.Name, err)

		// a document "_mget" that was there before is overwritten, and left
		index(t, c, clean, map[string]string{"_mget": `{"a":"mine"}`})
		_, err = wrong.MGet(ctx, clean, []string{"u1"})
		if !errors.As(err, &rw) || rw.Result != "updated" || rw.Deleted || !strings.Contains(err.Error(), "left in place") {
			t.Errorf("over an existing _mget document: got %v, want a ReadWroteError that leaves it", err)
		}
		if n := count(t, c, clean); n != 3 {
			t.Errorf("%s holds %d documents, want 3", clean, n)
		}
	})
}

// TestEnginesMalformedBodyIsNotRetried: Elasticsearch 6.8 answers a body it
// cannot parse with HTTP 500 (7+ and OpenSearch: 400, 8.x under other
// names). A 5xx is normally retried; this one never succeeds, so the client
// sends it once.
func TestEnginesMalformedBodyIsNotRetried(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		c := newClient(t, e.URL)
		idx := newIndex(t, c, "malformed")
		for _, tt := range []struct {
			name, method, path, body string
			wantType                 map[bool]string // by is8
		}{
			{"truncated settings", http.MethodPut, "/" + idx + "/_settings", `{"index":{"refresh_interval":`,
				map[bool]string{false: "json_e_o_f_exception", true: "x_content_e_o_f_exception"}},
			{"not JSON", http.MethodPost, "/" + idx + "/_search", `not json`,
				map[bool]string{false: "json_parse_exception", true: "x_content_parse_exception"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got := raw(t, tt.method, e.URL+tt.path, "application/json", tt.body)
				wantStatus := 400
				if is6(e) {
					wantStatus = 500
				}
				if got.Status != wantStatus || got.errorType() != tt.wantType[is8(e)] {
					t.Errorf("raw: %d %s; want %d %s", got.Status, got.errorType(), wantStatus, tt.wantType[is8(e)])
				}
				if _, err := c.Info(context.Background()); err != nil {
					t.Fatal(err)
				}
				before := c.Stats().Requests
				status, _, err := search.Do(context.Background(), c, tt.method, tt.path, []byte(tt.body), false)
				var he *search.HTTPError
				if !errors.As(err, &he) || status != wantStatus || he.Type != tt.wantType[is8(e)] {
					t.Fatalf("client: %d %v; want HTTP %d %s", status, err, wantStatus, tt.wantType[is8(e)])
				}
				if n := c.Stats().Requests - before; n != 1 || search.Retryable(0, err) {
					t.Errorf("sent %d times (retryable %v), want once", n, search.Retryable(0, err))
				}
			})
		}
		// the same through a public method
		before := c.Stats().Requests
		err := c.PutSettings(context.Background(), idx, []byte(`{"index":{"refresh_interval":`))
		if err == nil || c.Stats().Requests-before != 1 {
			t.Errorf("PutSettings with a broken body: %v after %d requests, want an error after 1", err, c.Stats().Requests-before)
		}
		t.Logf("%v", err)
	})
}

// TestEnginesErrorShapes: "error" is a string in some answers (a missing
// alias, on every engine) and an object in others; both become a clear
// message. A document the engine cannot map is reported with the engine's
// own type (8.x: document_parsing_exception) and not retried.
func TestEnginesErrorShapes(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		c := newClient(t, e.URL)
		alias := testenv.Name("it_noalias")
		got := raw(t, http.MethodGet, e.URL+"/_alias/"+alias, "", "")
		var shape struct {
			Error json.RawMessage `json:"error"`
		}
		_ = json.Unmarshal([]byte(got.Body), &shape)
		if got.Status != 404 || !bytes.HasPrefix(shape.Error, []byte(`"`)) {
			t.Errorf("raw GET /_alias/%s: %d %s; want 404 with a string error", alias, got.Status, got.Body)
		}
		_, _, err := search.Do(ctx, c, http.MethodGet, "/_alias/"+alias, nil, true)
		var he *search.HTTPError
		if !errors.As(err, &he) || !errors.Is(err, search.ErrNotFound) || he.Reason != "alias ["+alias+"] missing" {
			t.Errorf("string error: got %#v (%v)", he, err)
		} else if want := fmt.Sprintf("GET %s/_alias/%s: HTTP 404: alias [%s] missing", e.URL, alias, alias); err.Error() != want {
			t.Errorf("message %q, want %q", err, want)
		}
		if ixs, err := c.AliasIndexes(ctx, alias); err != nil || len(ixs) != 0 {
			t.Errorf("AliasIndexes of a missing alias: %v, %v; want none", ixs, err)
		}

		missing := testenv.Name("it_noindex")
		_, err = c.GetIndexDefinition(ctx, missing)
		if !errors.As(err, &he) || he.Type != "index_not_found_exception" || !strings.Contains(err.Error(), "HTTP 404: index_not_found_exception: no such index") {
			t.Errorf("object error: %v", err)
		}

		idx := newIndex(t, c, "errshape")
		res, err := c.Bulk(ctx, idx, []search.BulkItem{{ID: "bad", Doc: json.RawMessage(`{"a":{"b":1}}`)}, {ID: "good", Doc: json.RawMessage(`{"a":"x"}`)}})
		if err != nil {
			t.Fatal(err)
		}
		wantType := "mapper_parsing_exception: "
		if is8(e) {
			wantType = "document_parsing_exception: "
		}
		if r := res[0]; r.OK || r.Status != 400 || r.Attempts != 1 || !strings.HasPrefix(r.Error, wantType) || !strings.Contains(r.Error, "failed to parse field [a]") {
			t.Errorf("unmappable document: %+v, want a 400 %s… after one attempt", r, wantType)
		}
		if !res[1].OK {
			t.Errorf("the good document: %+v", res[1])
		}
	})
}

// TestEnginesDeprecationWarningsLoggedOnce: what the client sends draws no
// deprecation warning on any engine — 6.8 gets include_type_name, which it
// otherwise asks for with a Warning on every create-index and get-index
// answer. Provoked (6.8 asked as 7.x would ask it, 7.17 sent 6.x's typed
// bulk), every answer carries the warning, and each kind is logged once.
func TestEnginesDeprecationWarningsLoggedOnce(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		rec := newRecorder(t, e.URL)
		var logs bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
		c := newClient(t, rec.srv.URL, func(cfg *search.Config) { cfg.Logger = logger })
		var indexes []string
		for i := range 3 {
			idx := newIndex(t, c, fmt.Sprintf("warn%d", i))
			indexes = append(indexes, idx)
			if _, err := c.GetIndexDefinition(ctx, idx); err != nil {
				t.Fatal(err)
			}
			index(t, c, idx, map[string]string{"u1": `{"a":"x"}`})
			if _, err := c.MGet(ctx, idx, []string{"u1"}); err != nil {
				t.Fatal(err)
			}
			if err := c.ScanIDs(ctx, idx, search.ScanOptions{}, func(search.ScanPage) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		rec.mu.Lock()
		warned := rec.warned
		rec.mu.Unlock()
		if warned != 0 || logs.Len() != 0 {
			t.Errorf("the client's own requests drew %d warnings:\n%s", warned, logs.String())
		}

		var want string
		wrong := newClient(t, rec.srv.URL, func(cfg *search.Config) { cfg.Logger = logger })
		switch {
		case is6(e):
			want = "include_type_name should be explicitly specified in get indices requests"
			search.ForceDialect(wrong, search.Elasticsearch, "7.17.29")
			for _, idx := range indexes {
				if _, err := wrong.GetIndexDefinition(ctx, idx); err != nil {
					t.Fatal(err)
				}
			}
		case is7(e):
			want = "[types removal] Specifying types in bulk requests is deprecated."
			search.ForceDialect(wrong, search.Elasticsearch, "6.8.23")
			for _, idx := range indexes {
				index(t, wrong, idx, map[string]string{"u2": `{"a":"y"}`})
			}
		default:
			return // no deprecated request of ours that 8.x or OpenSearch still takes
		}
		rec.mu.Lock()
		warned = rec.warned
		rec.mu.Unlock()
		mu.Lock()
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		mu.Unlock()
		var line struct{ Msg, Warning, Request string }
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &line) != nil || !strings.Contains(line.Warning, want) {
			t.Errorf("%d answers carried a warning; logged:\n%s\nwant one line with %q", warned, strings.Join(lines, "\n"), want)
		}
		if warned < 3 {
			t.Errorf("%d answers carried the warning, want 3: the test provoked nothing to log once", warned)
		}
		t.Logf("%d answers with a Warning header, logged once: %s (%s)", warned, line.Warning, line.Request)
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
