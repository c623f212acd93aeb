package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestRebuildKeepsSunbirdQueries asks Sunbird's own kind of questions of the
// indexes we make, on the real engine: for every field that
// docs/sunbird-indexes.md gives a raw sub-field, a term filter on
// <field>.raw with the lower-cased value (as Sunbird's search layer sends it)
// and, where the engine can sort on it, a sort on <field>.raw. The answers
// of an index Sunbird's deployment would have made (built from the tables,
// not from our definitions), after `run --rebuild` of it, and of the index
// `schema` makes must be the same. An index without the raw sub-fields
// answers a filter with nothing and a sort with an error.
func TestRebuildKeepsSunbirdQueries(t *testing.T) {
	f := testenv.NewFixture(t, 600, 30, 41)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", f.Cass.Password.Reveal())
	tables := testenv.SunbirdIndexes(t)
	ctx := context.Background()
	flags := map[string]string{"user": "--user-index", "organisation": "--org-index", "location": "--location-index"}

	for _, ot := range []string{"user", "organisation", "location"} {
		t.Run(ot, func(t *testing.T) {
			table := tables[ot]
			docs := decodedDocs(t, f.ExpectedDocs(t, ot))
			sync := func(index string, extra ...string) string {
				t.Helper()
				args := append(searchRunArgs(f, t.TempDir(), "--object-type", ot, flags[ot], index), extra...)
				out, stderr, code := runCmd(t, args...)
				if code != 0 {
					t.Fatalf("run %v: exit %d\n%s\n%s", extra, code, out, stderr)
				}
				return out
			}

			// The index as Sunbird's deployment makes it: behind an alias for
			// users and organisations, a concrete index for locations.
			sb := testenv.Name("it_sb_" + ot)
			if err := f.Search.CreateIndex(ctx, sb, table.Body(1, 0, nil, nil)); err != nil {
				t.Fatal(err)
			}
			name := sb
			if ot != "location" {
				name = testenv.Name("it_sba_" + ot)
				if err := f.Search.UpdateAliases(ctx, []search.AliasAction{{Op: search.AliasAdd, Index: sb, Alias: name}}); err != nil {
					t.Fatal(err)
				}
			}
			t.Cleanup(func() { dropAliasOrIndex(f.Search, name); _ = f.Search.DeleteIndex(context.Background(), sb) })
			sync(name)
			before := sunbirdQueries(t, f.SearchURL, name, table, docs)
			defBefore, err := f.Search.GetIndexDefinition(ctx, sb)
			if err != nil {
				t.Fatal(err)
			}

			out := sync(name, "--rebuild")
			behind, err := f.Search.AliasIndexes(ctx, name)
			if err != nil || len(behind) != 1 || behind[0].Name == sb || !behind[0].IsWriteIndex {
				t.Fatalf("after the rebuild %s points to %+v (%v), want one new write index\n%s", name, behind, err, out)
			}
			if ot == "location" {
				if !strings.Contains(out, "the concrete index "+name+" was replaced by the alias") {
					t.Errorf("the rebuild did not say that the concrete index was replaced:\n%s", out)
				}
			}
			defAfter, err := f.Search.GetIndexDefinition(ctx, behind[0].Name)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(canonicalJSON(t, defBefore.Mappings), canonicalJSON(t, defAfter.Mappings)); diff != "" {
				t.Errorf("the rebuild changed the mapping (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(defBefore.Settings["analysis"], defAfter.Settings["analysis"]); diff != "" {
				t.Errorf("the rebuild changed the analysis settings (-before +after):\n%s", diff)
			}
			after := sunbirdQueries(t, f.SearchURL, name, table, docs)
			if diff := cmp.Diff(before, after); diff != "" {
				t.Errorf("Sunbird's queries answer differently after the rebuild (-before +after):\n%s", diff)
			}

			// The index `schema` makes (the fixture's, from our definitions).
			sync(f.Aliases[ot])
			ours := sunbirdQueries(t, f.SearchURL, f.Aliases[ot], table, docs)
			if diff := cmp.Diff(before, ours); diff != "" {
				t.Errorf("Sunbird's queries answer differently on the index schema makes (-sunbird's +ours):\n%s", diff)
			}
			logExamples(t, ot, before)
		})
	}

	// A deployment's own changes survive a rebuild: an extra field and
	// another analyzer on a Sunbird field.
	t.Run("local changes", func(t *testing.T) {
		table := tables["user"]
		docs := decodedDocs(t, f.ExpectedDocs(t, "user"))
		extra := map[string]any{
			"flagsValue": map[string]any{"type": "long", "fields": map[string]any{"raw": map[string]any{"type": "long"}}},
		}
		// (only analysis parts every engine has: the integ-test zips of
		// Elasticsearch 7.17/8 have no asciifolding)
		analyzers := map[string]any{"local_folding": map[string]any{"type": "custom", "tokenizer": "standard", "filter": []string{"lowercase"}}}
		body := table.Body(1, 0, extra, analyzers)
		var b map[string]any
		_ = json.Unmarshal(body, &b)
		props := b["mappings"].(map[string]any)["_doc"].(map[string]any)["properties"].(map[string]any)
		props["lastName"].(map[string]any)["analyzer"] = "local_folding"
		props["lastName"].(map[string]any)["search_analyzer"] = "local_folding"
		body, _ = json.Marshal(b)

		sb, alias := testenv.Name("it_local"), testenv.Name("it_local_alias")
		if err := f.Search.CreateIndex(ctx, sb, body); err != nil {
			t.Fatal(err)
		}
		if err := f.Search.UpdateAliases(ctx, []search.AliasAction{{Op: search.AliasAdd, Index: sb, Alias: alias}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dropAliasOrIndex(f.Search, alias); _ = f.Search.DeleteIndex(context.Background(), sb) })
		for _, extraArgs := range [][]string{nil, {"--rebuild"}} {
			args := append(searchRunArgs(f, t.TempDir(), "--user-index", alias), extraArgs...)
			if out, stderr, code := runCmd(t, args...); code != 0 {
				t.Fatalf("run %v: exit %d\n%s\n%s", extraArgs, code, out, stderr)
			}
		}
		before, err := f.Search.GetIndexDefinition(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		after, err := f.Search.GetIndexDefinition(ctx, alias)
		if err != nil {
			t.Fatal(err)
		}
		if after.Index == sb {
			t.Fatalf("the alias still points to %s after the rebuild", sb)
		}
		if diff := cmp.Diff(canonicalJSON(t, before.Mappings), canonicalJSON(t, after.Mappings)); diff != "" {
			t.Errorf("GET %s/_mapping differs after the rebuild (-before +after):\n%s", alias, diff)
		}
		if diff := cmp.Diff(before.Settings["analysis"], after.Settings["analysis"]); diff != "" {
			t.Errorf("analysis settings differ after the rebuild (-before +after):\n%s", diff)
		}
		t.Logf("GET %s/_mapping before (%s) and after (%s) the rebuild: %d bytes each, equal", alias, sb, after.Index, len(canonicalJSON(t, after.Mappings)))
		var flagged int
		for _, d := range docs {
			if v, ok := d["flagsValue"].(float64); ok && v == 4 {
				flagged++
			}
		}
		ids, err := searchIDs(f.SearchURL, alias, map[string]any{"query": map[string]any{"term": map[string]any{"flagsValue.raw": 4}}})
		if err != nil || len(ids) != flagged || flagged == 0 {
			t.Errorf("the local field flagsValue.raw = 4 finds %d users (%v), want %d", len(ids), err, flagged)
		}
		_ = table
	})
}

// sunbirdQueries runs Sunbird-style queries against index and returns each
// one's answer: the ids found, in order for sorts, or the error's type.
func sunbirdQueries(t *testing.T, url, index string, table testenv.SunbirdIndex, docs map[string]map[string]any) map[string]string {
	t.Helper()
	if res, err := http.Post(url+"/"+index+"/_refresh", "application/json", nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("refresh %s: %v %v", index, res, err)
	} else {
		res.Body.Close()
	}
	out := map[string]string{}
	answer := func(ids []string, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("%d hits: %s", len(ids), strings.Join(ids, " "))
	}
	for _, f := range table.Fields {
		if f.Raw == nil {
			continue
		}
		raw := f.Path + ".raw"
		nested := table.NestedPath(f.Path)
		value, found := sampleValue(docs, f.Path)
		if s, ok := value.(string); ok {
			value = strings.ToLower(s) // Sunbird lower-cases string filter values
		}
		if !found {
			value = "no-such-value"
		}
		var q any = map[string]any{"term": map[string]any{raw: value}}
		if nested != "" {
			q = map[string]any{"nested": map[string]any{"path": nested, "query": q}}
		}
		ids, err := searchIDs(url, index, map[string]any{"query": map[string]any{"bool": map[string]any{"filter": []any{q}}}})
		sort.Strings(ids)
		out["filter "+raw] = answer(ids, err)
		if found && err == nil && len(ids) == 0 && (f.Raw.Analyzer == "keylower" || !isString(value) || value == mustString(sampleString(docs, f.Path))) {
			t.Errorf("%s: a filter on %s = %v finds nothing, though documents have that value", index, raw, value)
		}
		sortable := nested == "" && (f.Raw.Type != "text" || f.Raw.Fielddata)
		if sortable {
			ids, err := searchIDs(url, index, map[string]any{"sort": []any{map[string]any{raw: "asc"}, map[string]any{"id.raw": "asc"}}})
			out["sort "+raw] = answer(ids, err)
			if err != nil {
				t.Errorf("%s: sort on %s: %v", index, raw, err)
			}
		}
	}
	// the searches named in docs/sunbird-indexes.md, as Sunbird combines them
	switch table.Name {
	case "orgv3":
		channel, _ := sampleValue(docs, "channel")
		ids, err := searchIDs(url, index, map[string]any{"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"channel.raw": strings.ToLower(fmt.Sprint(channel))}},
			map[string]any{"term": map[string]any{"isTenant.raw": true}},
		}}}})
		out["tenant by channel.raw + isTenant.raw"] = answer(ids, err)
	case "location":
		ids, err := searchIDs(url, index, map[string]any{
			"query": map[string]any{"bool": map[string]any{"filter": []any{map[string]any{"term": map[string]any{"type.raw": "district"}}}}},
			"sort":  []any{map[string]any{"name.raw": "asc"}, map[string]any{"id.raw": "asc"}},
		})
		out["districts by type.raw sorted by name.raw"] = answer(ids, err)
	}
	return out
}

// logExamples prints the answers the closing note of the issue asks for.
func logExamples(t *testing.T, ot string, answers map[string]string) {
	keys := map[string][]string{
		"user":         {"filter rootOrgId.raw", "filter status.raw", "filter roles.role.raw", "sort createdDate.raw"},
		"organisation": {"tenant by channel.raw + isTenant.raw", "filter slug.raw"},
		"location":     {"districts by type.raw sorted by name.raw", "filter parentId.raw"},
	}[ot]
	for _, k := range keys {
		a := answers[k]
		hits, _, _ := strings.Cut(a, ":")
		t.Logf("%s %s: %s, the same before and after the rebuild and on the index schema makes", ot, k, hits)
	}
}

// searchIDs runs one search and returns the ids of its hits (at most
// 10,000), or the engine's error type and reason.
func searchIDs(url, index string, body map[string]any) ([]string, error) {
	body["size"] = 10000
	body["_source"] = false
	b, _ := json.Marshal(body)
	res, err := http.Post(url+"/"+index+"/_search", "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var r struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
		Error *struct {
			RootCause []struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"root_cause"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("HTTP %d: %s", res.StatusCode, raw)
	}
	if res.StatusCode != 200 || r.Error != nil {
		if r.Error != nil && len(r.Error.RootCause) > 0 {
			return nil, fmt.Errorf("%s: %s", r.Error.RootCause[0].Type, r.Error.RootCause[0].Reason)
		}
		return nil, fmt.Errorf("HTTP %d: %s", res.StatusCode, raw)
	}
	ids := make([]string, len(r.Hits.Hits))
	for i, h := range r.Hits.Hits {
		ids[i] = h.ID
	}
	return ids, nil
}

func decodedDocs(t *testing.T, encoded map[string][]byte) map[string]map[string]any {
	t.Helper()
	out := make(map[string]map[string]any, len(encoded))
	for id, b := range encoded {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out[id] = m
	}
	return out
}

// sampleValue returns the first scalar value found at path in the documents
// (in id order), looking through lists of objects and lists of values.
func sampleValue(docs map[string]map[string]any, path string) (any, bool) {
	ids := make([]string, 0, len(docs))
	for id := range docs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if v, ok := scalarAt(docs[id], strings.Split(path, ".")); ok {
			return v, true
		}
	}
	return nil, false
}

func sampleString(docs map[string]map[string]any, path string) any {
	v, _ := sampleValue(docs, path)
	return v
}

func scalarAt(v any, path []string) (any, bool) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if s, ok := scalarAt(e, path); ok {
				return s, true
			}
		}
		return nil, false
	case map[string]any:
		if len(path) == 0 {
			return nil, false
		}
		return scalarAt(x[path[0]], path[1:])
	case nil:
		return nil, false
	case string:
		return x, len(path) == 0 && x != ""
	}
	return v, len(path) == 0
}

func isString(v any) bool { _, ok := v.(string); return ok }

func mustString(v any) string { s, _ := v.(string); return s }

func canonicalJSON(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dropAliasOrIndex deletes every index behind name, or name itself.
func dropAliasOrIndex(c *search.Client, name string) {
	ctx := context.Background()
	indices, _ := c.GetAlias(ctx, name)
	for _, ix := range indices {
		_ = c.DeleteIndex(ctx, ix)
	}
	_ = c.DeleteIndex(ctx, name)
}
