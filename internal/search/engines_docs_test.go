package search_test

// The client's document and index calls against every real engine: what
// testdata/ once held as hand-written answers, now the engines' own.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestEnginesDocuments: Get, Delete and MGet, with ids that need escaping
// and sources that contain the very members the answers are read by; each
// source comes back byte for byte.
func TestEnginesDocuments(t *testing.T) {
	docs := map[string]string{
		"plain":              `{"a":"one","n":1}`,
		"a/b?c d#e":          `{"a":"path characters"}`,
		`quote"back\slash é`: `{"a":"escapes"}`,
		"नमस्ते":             `{"a":"devanagari"}`,
		"tricky":             `{"found":false,"docs":[],"error":{"a":"}{\"]["},"s":"\u2028","list":[1,{"m":null}]}`,
	}
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		c := newClient(t, e.URL)
		idx := newIndex(t, c, "docs")
		index(t, c, idx, docs)
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range docs {
				if !yield(id) {
					return
				}
			}
		})

		got, err := c.MGet(ctx, idx, append(slices.Clone(ids), "absent"))
		if err != nil {
			t.Fatal(err)
		}
		gotStr := map[string]string{}
		for id, src := range got {
			gotStr[id] = string(src)
		}
		if diff := cmp.Diff(docs, gotStr); diff != "" {
			t.Errorf("MGet (-indexed +read back):\n%s", diff)
		}
		for _, id := range ids {
			src, found, err := c.Get(ctx, idx, id)
			if err != nil || !found || string(src) != docs[id] {
				t.Errorf("Get %q: %s, %v, %v", id, src, found, err)
			}
		}
		if _, found, err := c.Get(ctx, idx, "absent"); err != nil || found {
			t.Errorf("Get of a missing document: found %v, %v; want not found, no error", found, err)
		}
		missing := testenv.Name("it_noindex")
		if _, _, err := c.Get(ctx, missing, "x"); !errors.Is(err, search.ErrNotFound) {
			t.Errorf("Get from a missing index: %v, want ErrNotFound", err)
		}
		// a missing index: every engine answers _mget with a per-document error
		if _, err := c.MGet(ctx, missing, []string{"x"}); err == nil || !strings.Contains(err.Error(), "document x: index_not_found_exception") {
			t.Errorf("MGet from a missing index: %v, want the per-document error", err)
		}
		if got, err := c.MGet(ctx, idx, nil); err != nil || len(got) != 0 {
			t.Errorf("MGet of no ids: %v, %v", got, err)
		}

		for _, id := range []string{"a/b?c d#e", `quote"back\slash é`} {
			if found, err := c.Delete(ctx, idx, id); err != nil || !found {
				t.Errorf("Delete %q: %v, %v", id, found, err)
			}
			if found, err := c.Delete(ctx, idx, id); err != nil || found {
				t.Errorf("Delete %q again: found %v, %v; want not found", id, found, err)
			}
		}
		if n := count(t, c, idx); n != int64(len(docs)-2) {
			t.Errorf("%d documents after two deletes, want %d", n, len(docs)-2)
		}
	})
}

// TestEnginesScanIDs: the scroll visits every id once with the total the
// engine counted — hits.total is a number on 6.8 and an object on 7+ and
// OpenSearch, where track_total_hits is asked for — and is cleared after.
func TestEnginesScanIDs(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		c := newClient(t, e.URL)
		idx := newIndex(t, c, "scan")
		want := map[string]string{}
		for i := range 2500 {
			want[fmt.Sprintf("u%04d", i)] = fmt.Sprintf(`{"n":%d}`, i)
		}
		index(t, c, idx, want)

		got := raw(t, http.MethodPost, e.URL+"/"+idx+"/_search", "application/json", `{"size":0}`)
		var page struct {
			Hits struct {
				Total json.RawMessage `json:"total"`
			} `json:"hits"`
		}
		_ = json.Unmarshal([]byte(got.Body), &page)
		wantTotal := `{"value":2500,"relation":"eq"}`
		if is6(e) {
			wantTotal = `2500`
		}
		if string(page.Hits.Total) != wantTotal {
			t.Errorf("raw hits.total %s, want %s", page.Hits.Total, wantTotal)
		}

		rec := newRecorder(t, e.URL)
		sc := newClient(t, rec.srv.URL)
		var sizes []int
		seen := map[string]bool{}
		err := sc.ScanIDs(ctx, idx, search.ScanOptions{PageSize: 1000, KeepAlive: 90 * time.Second}, func(p search.ScanPage) error {
			if p.Total != 2500 {
				t.Errorf("page total %d, want 2500", p.Total)
			}
			sizes = append(sizes, len(p.IDs))
			for _, id := range p.IDs {
				if seen[id] {
					t.Errorf("%s seen twice", id)
				}
				seen[id] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sizes, []int{1000, 1000, 500}) || len(seen) != 2500 {
			t.Errorf("pages of %v, %d ids; want 1000, 1000, 500 and all 2500", sizes, len(seen))
		}
		first := rec.bodies["POST /"+idx+"/_search"]
		if strings.Contains(first, "track_total_hits") == is6(e) {
			t.Errorf("first scan request %s: track_total_hits must be sent to 7+ and OpenSearch only", first)
		}
		if !slices.Contains(rec.requests(), "DELETE /_search/scroll") {
			t.Errorf("the scroll was not cleared: %v", rec.requests())
		}

		stop := errors.New("stop here")
		if err := sc.ScanIDs(ctx, idx, search.ScanOptions{}, func(search.ScanPage) error { return stop }); err != stop {
			t.Errorf("an error of the callback: got %v, want it as is", err)
		}
		if _, err := c.Count(ctx, testenv.Name("it_noindex")); !errors.Is(err, search.ErrNotFound) {
			t.Errorf("Count of a missing index: %v", err)
		}
		if err := c.ScanIDs(ctx, testenv.Name("it_noindex"), search.ScanOptions{}, func(search.ScanPage) error { return nil }); !errors.Is(err, search.ErrNotFound) {
			t.Errorf("ScanIDs of a missing index: %v", err)
		}
	})
}

// TestEnginesIndexAdmin: aliases, index existence, deletion, settings and
// counts, as a rebuild uses them.
func TestEnginesIndexAdmin(t *testing.T) {
	forEngine(t, func(t *testing.T, e testenv.Engine) {
		ctx := context.Background()
		c := newClient(t, e.URL)
		a, b := newIndex(t, c, "admin_a"), newIndex(t, c, "admin_b")
		if a > b {
			a, b = b, a
		}
		alias := testenv.Name("it_alias")
		if ixs, err := c.AliasIndexes(ctx, alias); err != nil || ixs != nil {
			t.Errorf("a missing alias: %v, %v", ixs, err)
		}
		if err := c.UpdateAliases(ctx, []search.AliasAction{
			{Op: search.AliasAdd, Index: a, Alias: alias},
			{Op: search.AliasAdd, Index: b, Alias: alias, WriteIndex: true},
		}); err != nil {
			t.Fatal(err)
		}
		got, err := c.AliasIndexes(ctx, alias)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]search.AliasIndex{{Name: a}, {Name: b, IsWriteIndex: true}}, got); diff != "" {
			t.Errorf("alias (-want +got):\n%s", diff)
		}
		// a write through the alias goes to its write index
		index(t, c, alias, map[string]string{"w": `{"a":"x"}`})
		if n := count(t, c, b); n != 1 {
			t.Errorf("the write index holds %d documents, want 1", n)
		}
		// remove_index deletes a, and with it its place behind the alias
		if err := c.UpdateAliases(ctx, []search.AliasAction{{Op: search.AliasRemoveIndex, Index: a}}); err != nil {
			t.Fatal(err)
		}
		if names, err := c.GetAlias(ctx, alias); err != nil || !slices.Equal(names, []string{b}) {
			t.Errorf("after the swap the alias points to %v (%v), want [%s]", names, err, b)
		}
		for name, want := range map[string]bool{a: false, b: true, alias: true, testenv.Name("it_noindex"): false} {
			if got, err := c.IndexExists(ctx, name); err != nil || got != want {
				t.Errorf("IndexExists(%s) = %v, %v; want %v", name, got, err, want)
			}
		}
		if err := c.DeleteIndex(ctx, a); !errors.Is(err, search.ErrNotFound) {
			t.Errorf("deleting a deleted index: %v, want ErrNotFound", err)
		}
		before := c.Stats().Requests
		for _, name := range []string{"", "_all", "it_*", a + "," + b} {
			if err := c.DeleteIndex(ctx, name); err == nil || !strings.Contains(err.Error(), "refusing") {
				t.Errorf("DeleteIndex(%q) = %v, want a refusal", name, err)
			}
		}
		if c.Stats().Requests != before {
			t.Error("a refused DeleteIndex was sent")
		}

		if err := c.PutSettings(ctx, b, []byte(`{"index":{"refresh_interval":"-1","number_of_replicas":0}}`)); err != nil {
			t.Fatal(err)
		}
		settings, err := c.GetSettings(ctx, alias)
		if err != nil {
			t.Fatal(err)
		}
		var s struct {
			Index struct {
				RefreshInterval string `json:"refresh_interval"`
				Replicas        string `json:"number_of_replicas"`
			} `json:"index"`
		}
		if err := json.Unmarshal(settings[b], &s); err != nil || s.Index.RefreshInterval != "-1" || s.Index.Replicas != "0" {
			t.Errorf("settings of %s through %s: %s (%v)", b, alias, settings[b], err)
		}
	})
}
