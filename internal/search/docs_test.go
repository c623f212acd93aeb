package search

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const indexMissing = `{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [userv9]","index":"userv9"}],"type":"index_not_found_exception","reason":"no such index [userv9]","index":"userv9"},"status":404}`

func TestGet(t *testing.T) {
	tests := []struct {
		name      string
		reply     reply
		wantDoc   string
		wantFound bool
		wantErr   error
	}{
		{"found (6.8 shape)", jsonReply(200, `{"_index":"userv3","_type":"_doc","_id":"u1","_version":3,"_seq_no":7,"_primary_term":1,"found":true,"_source":{"id":"u1","status":1}}`),
			`{"id":"u1","status":1}`, true, nil},
		{"found (7+ shape)", jsonReply(200, `{"_index":"userv3","_id":"u1","_version":3,"found":true,"_source":{"id":"u1"}}`),
			`{"id":"u1"}`, true, nil},
		{"document missing", jsonReply(404, `{"_index":"userv3","_type":"_doc","_id":"u1","found":false}`), "", false, nil},
		{"index missing", jsonReply(404, indexMissing), "", false, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "").on("GET /user_alias/_doc/u1", tt.reply)
			doc, found, err := newTestClient(t, e, Config{}).Get(context.Background(), "user_alias", "u1")
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if string(doc) != tt.wantDoc || found != tt.wantFound {
				t.Errorf("got %s, %v; want %s, %v", doc, found, tt.wantDoc, tt.wantFound)
			}
		})
	}
}

func TestDocumentPathsEscapeIDs(t *testing.T) {
	e := newFakeEngine(t, "").on("DELETE /user_alias/_doc/a%2Fb%3Fc%20d", jsonReply(200, `{"result":"deleted"}`))
	found, err := newTestClient(t, e, Config{}).Delete(context.Background(), "user_alias", "a/b?c d")
	if err != nil || !found {
		t.Fatalf("got %v, %v; want found", found, err)
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name      string
		reply     reply
		wantFound bool
		wantErr   bool
	}{
		{"deleted", jsonReply(200, `{"_index":"userv3","_id":"u1","result":"deleted"}`), true, false},
		{"already absent", jsonReply(404, `{"_index":"userv3","_type":"_doc","_id":"u1","_version":1,"result":"not_found"}`), false, false},
		{"index missing", jsonReply(404, indexMissing), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "").on("DELETE /user_alias/_doc/u1", tt.reply)
			found, err := newTestClient(t, e, Config{}).Delete(context.Background(), "user_alias", "u1")
			if found != tt.wantFound || (err != nil) != tt.wantErr {
				t.Errorf("got %v, %v; want found=%v error=%v", found, err, tt.wantFound, tt.wantErr)
			}
		})
	}
}

func TestMGet(t *testing.T) {
	const answer = `{"docs":[
		{"_index":"userv3","_type":"_doc","_id":"u1","_version":1,"found":true,"_source":{"id":"u1"}},
		{"_index":"userv3","_type":"_doc","_id":"u2","found":false},
		{"_index":"userv3","_type":"_doc","_id":"u3","_version":2,"found":true,"_source":{"id":"u3","n":[1,2]}}]}`
	tests := []struct {
		info, path string
	}{
		{"elasticsearch-6.8.22.json", "/user_alias/_doc/_mget"},
		{"elasticsearch-7.17.18.json", "/user_alias/_mget"},
		{"elasticsearch-8.15.3.json", "/user_alias/_mget"},
		{"opensearch-1.3.20.json", "/user_alias/_mget"},
	}
	for _, tt := range tests {
		t.Run(tt.info, func(t *testing.T) {
			e := newFakeEngine(t, tt.info).on("POST "+tt.path, jsonReply(200, answer))
			got, err := newTestClient(t, e, Config{}).MGet(context.Background(), "user_alias", []string{"u1", "u2", "u3"})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"u1": `{"id":"u1"}`, "u3": `{"id":"u3","n":[1,2]}`}
			gotStr := map[string]string{}
			for k, v := range got {
				gotStr[k] = string(v)
			}
			if diff := cmp.Diff(want, gotStr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if body := e.requests("POST " + tt.path)[0].Body; body != `{"ids":["u1","u2","u3"]}` {
				t.Errorf("body %s", body)
			}
		})
	}
}

func TestMGetErrors(t *testing.T) {
	e := newFakeEngine(t, "elasticsearch-8.15.3.json").on("POST /userv9/_mget",
		jsonReply(200, `{"docs":[{"_index":"userv9","_id":"u1","error":{"type":"index_not_found_exception","reason":"no such index [userv9]"}}]}`))
	c := newTestClient(t, e, Config{})
	_, err := c.MGet(context.Background(), "userv9", []string{"u1"})
	if err == nil || !strings.Contains(err.Error(), "document u1: index_not_found_exception: no such index [userv9]") {
		t.Errorf("got %v, want the per-document error", err)
	}
	got, err := c.MGet(context.Background(), "userv9", nil)
	if err != nil || len(got) != 0 {
		t.Errorf("no ids: got %v, %v; want an empty map", got, err)
	}
}

func TestScanIDs(t *testing.T) {
	tests := []struct {
		name, info, pages string
		wantFirstBody     string
	}{
		{"6.8: total as a number, no track_total_hits", "elasticsearch-6.8.22.json", "scroll-6.8",
			`{"size":2,"sort":["_doc"],"_source":false}`},
		{"7+: total as an object", "elasticsearch-7.17.18.json", "scroll-7",
			`{"size":2,"sort":["_doc"],"_source":false,"track_total_hits":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, tt.info).
				on("POST /user_alias/_search", fixtureReply(t, 200, "search/"+tt.pages+"-page1.json")).
				on("POST /_search/scroll",
					fixtureReply(t, 200, "search/"+tt.pages+"-page2.json"),
					fixtureReply(t, 200, "search/"+tt.pages+"-page3.json")).
				on("DELETE /_search/scroll", jsonReply(200, `{"succeeded":true,"num_freed":1}`))
			c := newTestClient(t, e, Config{})
			var got []ScanPage
			err := c.ScanIDs(context.Background(), "user_alias", ScanOptions{PageSize: 2, KeepAlive: 90 * time.Second}, func(p ScanPage) error {
				got = append(got, p)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := []ScanPage{{IDs: []string{"u1", "u2"}, Total: 3}, {IDs: []string{"u3"}, Total: 3}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pages (-want +got):\n%s", diff)
			}
			first := e.requests("POST /user_alias/_search")[0]
			if first.Body != tt.wantFirstBody || first.Query != "scroll=90s" {
				t.Errorf("first search %s?%s, want %s?scroll=90s", first.Path, first.Query, tt.wantFirstBody)
			}
			var scrollID string
			var page1 struct {
				ScrollID string `json:"_scroll_id"`
			}
			json.Unmarshal(fixture(t, "search/"+tt.pages+"-page1.json"), &page1)
			scrollID = page1.ScrollID
			for _, r := range e.requests("POST /_search/scroll") {
				if want := `{"scroll":"90s","scroll_id":"` + scrollID + `"}`; r.Body != want {
					t.Errorf("continuation %s, want %s", r.Body, want)
				}
			}
			clears := e.requests("DELETE /_search/scroll")
			if len(clears) != 1 || clears[0].Body != `{"scroll_id":["`+scrollID+`"]}` {
				t.Errorf("clear scroll requests %+v, want one for %s", clears, scrollID)
			}
		})
	}
}

func TestScanIDsFailures(t *testing.T) {
	stop := errors.New("stop here")
	tests := []struct {
		name    string
		first   reply
		next    reply
		fn      func(ScanPage) error
		wantErr string
		is      error
		clears  int
	}{
		{"shard failure", fixtureReply(t, 200, "search/shard-failure.json"), reply{}, nil,
			"1 of 5 shards failed, the answer is incomplete (userv3 shard 2: node_not_connected_exception: [node-2][10.0.0.2:9300] Node not connected)", nil, 1},
		{"callback error returned as is", fixtureReply(t, 200, "search/scroll-7-page1.json"), reply{},
			func(ScanPage) error { return stop }, "stop here", stop, 1},
		{"scroll expired", fixtureReply(t, 200, "search/scroll-7-page1.json"),
			jsonReply(404, `{"error":{"type":"search_phase_execution_exception","reason":"all shards failed","caused_by":{"type":"search_context_missing_exception","reason":"No search context found for id [23]"}},"status":404}`),
			nil, "the scroll expired, a page took longer than 5m0s to handle", ErrNotFound, 1},
		{"index missing", jsonReply(404, indexMissing), reply{}, nil, "no such index [userv9]", ErrNotFound, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newFakeEngine(t, "elasticsearch-7.17.18.json").
				on("POST /user_alias/_search", tt.first).
				on("DELETE /_search/scroll", jsonReply(200, `{"succeeded":true}`))
			if tt.next.status != 0 {
				e.on("POST /_search/scroll", tt.next)
			}
			fn := tt.fn
			if fn == nil {
				fn = func(ScanPage) error { return nil }
			}
			err := newTestClient(t, e, Config{}).ScanIDs(context.Background(), "user_alias", ScanOptions{}, fn)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("got %v, want errors.Is %v", err, tt.is)
			}
			if n := len(e.requests("DELETE /_search/scroll")); n != tt.clears {
				t.Errorf("%d clear-scroll requests, want %d", n, tt.clears)
			}
		})
	}
}

func TestDurationParam(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Minute: "300s", 1500 * time.Millisecond: "1500ms", time.Second: "1s"} {
		if got := durationParam(d); got != want {
			t.Errorf("durationParam(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestMGetTrickyAnswers: ids with escapes, sources that contain the members
// the answer is read by, strings with braces and quotes, whitespace — each
// source comes back byte for byte; a broken answer is an error, never a
// short map (which verify would report as missing documents).
func TestMGetTrickyAnswers(t *testing.T) {
	const answer = `{ "took":1, "docs" : [
		{"_index":"u","_id":"a\"b\\c\u00e9","found":true,"_source":{"found":false,"_id":"x","s":"}{\"]["}},
		{"_index":"u","_id":"plain","_version":3,"found":true,"_source":  {"n":[1,{"m":null}],"e":"\u2028"}  },
		{"_index":"u","_id":"gone","found":false}
	]}`
	e := newFakeEngine(t, "elasticsearch-8.15.3.json").
		on("POST /u/_mget", jsonReply(200, answer), jsonReply(200, `{"docs":[{"_id":"a","found":true,"_source":{"x":`), jsonReply(200, `{"took":1}`))
	c := newTestClient(t, e, Config{})
	got, err := c.MGet(context.Background(), "u", []string{"a\"b\\cé", "plain", "gone"})
	if err != nil {
		t.Fatal(err)
	}
	gotStr := map[string]string{}
	for k, v := range got {
		gotStr[k] = string(v)
	}
	want := map[string]string{"a\"b\\cé": `{"found":false,"_id":"x","s":"}{\"]["}`, "plain": `{"n":[1,{"m":null}],"e":"\u2028"}`}
	if diff := cmp.Diff(want, gotStr); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, name := range []string{"truncated answer", "answer without docs"} {
		if got, err := c.MGet(context.Background(), "u", []string{"a"}); err == nil {
			t.Errorf("%s: got %v and no error", name, got)
		}
	}
}
