package search

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// goldenItems cover the encoder's cases: a plain document, an indented one
// (newlines must not break NDJSON), an id that needs escaping, a delete.
var goldenItems = []BulkItem{
	{ID: "0b1c9f5e-6f1e-4c3a-9d1e-2f0a8a6c7b11", Doc: json.RawMessage(`{"id":"0b1c9f5e-6f1e-4c3a-9d1e-2f0a8a6c7b11","firstName":"Asha","status":1}`)},
	{ID: "u-2", Doc: json.RawMessage("{\n  \"id\": \"u-2\",\n  \"firstName\": \"Ravi\\nKumar\",\n  \"roles\": []\n}\n")},
	{ID: "quote\"back\\slash\ttab é", Doc: json.RawMessage(`{"id":"quote\"back\\slash\ttab é"}`)},
	{ID: "gone-1", Op: OpDelete},
}

func TestBulkBodyGolden(t *testing.T) {
	for _, tt := range []struct{ info, golden string }{
		{"elasticsearch-6.8.23.json", "bulk/request-6.8.golden.ndjson"},
		{"elasticsearch-8.19.7.json", "bulk/request-8.x.golden.ndjson"},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			e := newFakeEngine(t, tt.info).on("POST /_bulk", jsonReply(200,
				`{"errors":false,"items":[{"index":{"status":201}},{"index":{"status":201}},{"index":{"status":201}},{"delete":{"status":200}}]}`))
			c := newTestClient(t, e, Config{})
			if _, err := c.Bulk(context.Background(), "user_alias", goldenItems); err != nil {
				t.Fatal(err)
			}
			reqs := e.requests("POST /_bulk")
			if len(reqs) != 1 {
				t.Fatalf("got %d bulk requests, want 1", len(reqs))
			}
			if got, want := reqs[0].ContentType, "application/x-ndjson"; got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
			if !strings.HasPrefix(reqs[0].Query, "filter_path=") {
				t.Errorf("query %q has no filter_path", reqs[0].Query)
			}
			for i, line := range lines(reqs[0].Body) {
				if !json.Valid([]byte(line)) {
					t.Errorf("line %d is not JSON: %s", i+1, line)
				}
			}
			checkGolden(t, tt.golden, []byte(reqs[0].Body))
		})
	}
}

func TestActionLineStrings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the string decoded back
	}{
		{"plain", "0b1c9f5e-6f1e", "0b1c9f5e-6f1e"},
		{"quotes and backslash", `a"b\c`, `a"b\c`},
		{"control characters", "a\nb\rc\td\x00e\x1f", "a\nb\rc\td\x00e\x1f"},
		{"unicode", "नमस्ते ✓ 😀", "नमस्ते ✓ 😀"},
		{"html stays literal", "<a&b>", "<a&b>"},
		{"invalid utf-8", "a\xffb", "a\ufffdb"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := sunbird.AppendString(nil, tt.in)
			var got string
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatalf("%s: %v", enc, err)
			}
			if got != tt.want {
				t.Errorf("round trip of %q: got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// mixedItems match testdata/bulk/response-mixed.json item by item.
var mixedItems = []BulkItem{
	{ID: "u1", Doc: json.RawMessage(`{"id":"u1"}`)},
	{ID: "u2", Doc: json.RawMessage(`{"id":"u2"}`)},
	{ID: "u3", Doc: json.RawMessage(`{"id":"u3"}`)},
	{ID: "u4", Doc: json.RawMessage(`{"id":"u4","dob":"not-a-date"}`)},
	{ID: "u5", Doc: json.RawMessage(`{"id":"u5"}`)},
	{ID: "u6", Op: OpDelete},
	{ID: "u7", Op: OpDelete},
}

func TestBulkRetriesOnlyTheRetryableItems(t *testing.T) {
	for _, info := range []string{"elasticsearch-6.8.23.json", "elasticsearch-8.19.7.json"} {
		t.Run(info, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newFakeEngine(t, info).on("POST /_bulk",
					fixtureReply(t, 200, "bulk/response-mixed.json"),
					fixtureReply(t, 200, "bulk/response-retried.json"))
				c := newTestClient(t, e, Config{Retries: 3, RetryBase: time.Second})
				if _, err := c.Info(t.Context()); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				got, err := c.Bulk(t.Context(), "userv3", mixedItems)
				if err != nil {
					t.Fatal(err)
				}
				want := []ItemResult{
					{ID: "u1", Status: 201, OK: true, Result: "created", Attempts: 1},
					{ID: "u2", Status: 200, OK: true, Result: "updated", Attempts: 1},
					{ID: "u3", Status: 201, OK: true, Result: "created", Attempts: 2},
					{ID: "u4", Status: 400, Attempts: 1, Error: "mapper_parsing_exception: failed to parse field [dob] of type [date] in document with id 'u4'" +
						" (caused by illegal_argument_exception: failed to parse date field [not-a-date] with format [strict_date_optional_time||epoch_millis])" +
						" (caused by date_time_parse_exception: Failed to parse with all enclosed parsers)"},
					{ID: "u5", Status: 200, OK: true, Result: "updated", Attempts: 2},
					{ID: "u6", Status: 404, OK: true, Result: "not_found", Attempts: 1},
					{ID: "u7", Status: 200, OK: true, Result: "deleted", Attempts: 1},
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}

				reqs := e.requests("POST /_bulk")
				if len(reqs) != 2 {
					t.Fatalf("got %d bulk requests, want 2", len(reqs))
				}
				enc := c.dialect.Load().bulkEncoder("userv3")
				var wantBody []byte
				for _, i := range []int{2, 4} { // u3 (429) and u5 (503)
					wantBody = enc.appendItem(wantBody, &mixedItems[i])
				}
				if diff := cmp.Diff(lines(string(wantBody)), lines(reqs[1].Body)); diff != "" {
					t.Errorf("second request must hold exactly u3 and u5 (-want +got):\n%s", diff)
				}
				if waited := time.Since(start); waited > time.Second {
					t.Errorf("waited %s before the retry, want at most RetryBase (1s)", waited)
				}
				if diff := cmp.Diff(Stats{Requests: 3, Retries: 1, RetriedItems: 2}, c.Stats()); diff != "" {
					t.Errorf("stats (-want +got):\n%s", diff)
				}
			})
		})
	}
}

func TestBulkItemRetriesRunOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rejected := jsonReply(200, `{"errors":true,"items":[{"index":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution"}}}]}`)
		e := newFakeEngine(t, "opensearch-2.19.6.json").on("POST /_bulk", rejected)
		c := newTestClient(t, e, Config{Retries: 2})
		got, err := c.Bulk(t.Context(), "user_alias", mixedItems[:1])
		if err != nil {
			t.Fatal(err)
		}
		want := []ItemResult{{ID: "u1", Status: 429, Attempts: 3, Error: "es_rejected_execution_exception: rejected execution"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if n := len(e.requests("POST /_bulk")); n != 3 {
			t.Errorf("sent %d times, want 3 (1 + 2 retries)", n)
		}
	})
}

func TestBulkRequestLevel429HonoursRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine(t, "opensearch-2.19.6.json").on("POST /_bulk",
			reply{status: 429, header: map[string]string{"Retry-After": "7"},
				body: []byte(`{"error":{"type":"circuit_breaking_exception","reason":"[parent] Data too large"},"status":429}`)},
			jsonReply(200, `{"errors":false,"items":[{"index":{"status":201,"result":"created"}},{"index":{"status":200,"result":"updated"}}]}`))
		c := newTestClient(t, e, Config{Retries: 3, RetryBase: time.Millisecond})
		if _, err := c.Info(t.Context()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := c.Bulk(t.Context(), "user_alias", mixedItems[:2])
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(start); waited != 7*time.Second {
			t.Errorf("waited %s, want the 7s of Retry-After", waited)
		}
		want := []ItemResult{
			{ID: "u1", Status: 201, OK: true, Result: "created", Attempts: 2},
			{ID: "u2", Status: 200, OK: true, Result: "updated", Attempts: 2},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		reqs := e.requests("POST /_bulk")
		if len(reqs) != 2 || reqs[0].Body != reqs[1].Body {
			t.Errorf("the whole request must be re-sent unchanged")
		}
		if len(reqs) == 2 && reqs[1].At.Sub(reqs[0].At) != 7*time.Second {
			t.Errorf("re-sent after %s, want the 7s of Retry-After", reqs[1].At.Sub(reqs[0].At))
		}
	})
}

func TestBulkRequestRetriesRunOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine(t, "elasticsearch-7.17.29.json").on("POST /_bulk",
			jsonReply(503, `{"error":{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"},"status":503}`))
		c := newTestClient(t, e, Config{Retries: 3, RetryBase: time.Second, RetryMax: 3 * time.Second})
		if _, err := c.Info(t.Context()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got, err := c.Bulk(t.Context(), "user_alias", mixedItems[:2])
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != 503 {
			t.Fatalf("got %v, want an *HTTPError 503", err)
		}
		if n := len(e.requests("POST /_bulk")); n != 4 {
			t.Errorf("sent %d times, want 4", n)
		}
		// Full jitter: the waits are at most 1s, 2s, 3s (capped).
		if waited := time.Since(start); waited > 6*time.Second {
			t.Errorf("waited %s, want at most 6s", waited)
		}
		for _, r := range got {
			if r.OK || r.Status != 503 || r.Attempts != 4 || !strings.Contains(r.Error, "cluster_block_exception") {
				t.Errorf("item %+v, want failed with the 503 after 4 attempts", r)
			}
		}
	})
}

func TestBulkPermanentRequestErrors(t *testing.T) {
	tests := []struct {
		name     string
		reply    reply
		is       error
		contains []string
	}{
		{"413 payload too large", reply{status: 413, body: nil}, ErrPayloadTooLarge,
			[]string{"HTTP 413", "lower --bulk-bytes or --block-size"}},
		{"400 malformed", jsonReply(400, `{"error":{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\n]"},"status":400}`), nil,
			[]string{"HTTP 400", "illegal_argument_exception: The bulk request must be terminated by a newline"}},
		{"401", jsonReply(401, `{"error":{"type":"security_exception","reason":"unable to authenticate user [sync] for REST request [/_bulk]"},"status":401}`), ErrUnauthorized,
			[]string{"rejected the credentials", "check --search-username / INDEXSYNC_SEARCH_PASSWORD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "elasticsearch-8.19.7.json").on("POST /_bulk", tt.reply)
			c := newTestClient(t, e, Config{Retries: 5})
			got, err := c.Bulk(context.Background(), "user_alias", mixedItems[:2])
			if err == nil {
				t.Fatal("no error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want errors.Is %v", err, tt.is)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if n := len(e.requests("POST /_bulk")); n != 1 {
				t.Errorf("sent %d times, want 1 (not retryable)", n)
			}
			for _, r := range got {
				if r.OK || r.Error != err.Error() || r.Attempts != 1 {
					t.Errorf("item %+v, want failed with the request's error", r)
				}
			}
		})
	}
}

func TestBulkIndexMissingIsPermanent(t *testing.T) {
	e := newFakeEngine(t, "elasticsearch-6.8.23.json").on("POST /_bulk", fixtureReply(t, 200, "bulk/response-index-missing.json"))
	c := newTestClient(t, e, Config{Retries: 5})
	got, err := c.Bulk(context.Background(), "user_alias", mixedItems[:1])
	if err != nil {
		t.Fatal(err)
	}
	want := []ItemResult{{ID: "u1", Status: 404, Attempts: 1, Error: "index_not_found_exception: no such index [user_alias]"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBulkInvalidItemsAreNotSent(t *testing.T) {
	e := newFakeEngine(t, "elasticsearch-8.19.7.json").on("POST /_bulk",
		jsonReply(200, `{"errors":false,"items":[{"index":{"status":201,"result":"created"}}]}`))
	c := newTestClient(t, e, Config{})
	items := []BulkItem{
		{ID: "", Doc: json.RawMessage(`{}`)},
		{ID: "ok", Doc: json.RawMessage(`{"id":"ok"}`)},
		{ID: "nodoc", Doc: json.RawMessage("  ")},
		{ID: "badop", Op: Op(9)},
	}
	got, err := c.Bulk(context.Background(), "user_alias", items)
	if err != nil {
		t.Fatal(err)
	}
	want := []ItemResult{
		{ID: "", Error: "invalid item: empty id"},
		{ID: "ok", Status: 201, OK: true, Result: "created", Attempts: 1},
		{ID: "nodoc", Error: "invalid item: empty document"},
		{ID: "badop", Error: "invalid item: unknown operation Op(9)"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := lines(e.requests("POST /_bulk")[0].Body); len(got) != 2 {
		t.Errorf("body has %d lines, want 2 (only the valid item)", len(got))
	}
}

func TestBulkItemCountMismatch(t *testing.T) {
	e := newFakeEngine(t, "elasticsearch-8.19.7.json").on("POST /_bulk", jsonReply(200, `{"errors":false,"items":[]}`))
	_, err := newTestClient(t, e, Config{}).Bulk(context.Background(), "user_alias", mixedItems[:2])
	var re *ResponseError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "0 item results for 2 items") {
		t.Errorf("got %v, want a *ResponseError about the item count", err)
	}
}

func TestBulkStopsWhenContextEndsDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEngine(t, "elasticsearch-8.19.7.json").on("POST /_bulk",
			reply{status: 503, header: map[string]string{"Retry-After": "60"}})
		c := newTestClient(t, e, Config{Retries: 5})
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		got, err := c.Bulk(ctx, "user_alias", mixedItems[:1])
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != 10*time.Second {
			t.Errorf("returned after %s, want 10s (when ctx ended)", waited)
		}
		if got[0].OK || got[0].Error == "" {
			t.Errorf("item %+v, want failed", got[0])
		}
	})
}

// TestBulkConcurrent runs many Bulk calls at once over real HTTP, so the race
// detector sees the pooled buffers cross goroutines.
func TestBulkConcurrent(t *testing.T) {
	info := fixture(t, "info/elasticsearch-8.19.7.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			w.Write(info)
			return
		}
		// Answer each action with its id as the result, so mixed-up buffers show.
		var results []string
		sc := bufio.NewScanner(r.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var action map[string]struct {
				ID string `json:"_id"`
			}
			if err := json.Unmarshal(sc.Bytes(), &action); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			results = append(results, fmt.Sprintf(`{"index":{"status":201,"result":%q}}`, action["index"].ID))
			sc.Scan() // the document line
		}
		fmt.Fprintf(w, `{"errors":false,"items":[%s]}`, strings.Join(results, ","))
	}))
	defer srv.Close()
	c, err := NewClient(Config{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for b := range 20 {
				items := make([]BulkItem, 50)
				for i := range items {
					id := fmt.Sprintf("w%d-b%d-i%d", w, b, i)
					items[i] = BulkItem{ID: id, Doc: json.RawMessage(fmt.Sprintf(`{"id":%q,"pad":%q}`, id, strings.Repeat("x", i*40)))}
				}
				got, err := c.Bulk(context.Background(), "user_alias", items)
				if err != nil {
					t.Error(err)
					return
				}
				for i, r := range got {
					if !r.OK || r.Result != items[i].ID {
						t.Errorf("item %d: %+v, want OK with result %s", i, r, items[i].ID)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkBulkBody(b *testing.B) {
	d := mustDialect(b, "elasticsearch-8.19.7.json")
	doc := fmt.Sprintf(`{"id":"%s","firstName":"Asha","lastName":"Verma","email":"%s","roles":[{"role":"PUBLIC","scope":[]}],"organisations":[],"framework":{},"profileDetails":null,"pad":"%s"}`,
		"0b1c9f5e-6f1e-4c3a-9d1e-2f0a8a6c7b11", strings.Repeat("e", 88), strings.Repeat("p", 1200))
	items := make([]BulkItem, 1000)
	size := 0
	for i := range items {
		items[i] = BulkItem{ID: fmt.Sprintf("0b1c9f5e-6f1e-4c3a-9d1e-%012d", i), Doc: json.RawMessage(doc)}
		size += len(doc)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	buf := make([]byte, 0, 2*size)
	for b.Loop() {
		enc := d.bulkEncoder("user_alias")
		buf = buf[:0]
		for i := range items {
			buf = enc.appendItem(buf, &items[i])
		}
	}
}
