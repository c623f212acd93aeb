package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/testenv"
)

// The engine conformance suite: what a deployment does with indexsync, on the
// engine of INDEXSYNC_TEST_SEARCH_URL, in one test — so that
// testinfra/run-tests.sh can run it (with TestRebuildKeepsSunbirdQueries and
// internal/schema TestBuiltinMatchesSunbird) on the engines where the whole
// suite does not run, Elasticsearch 7.17 and 8.x. The whole suite runs on
// OpenSearch 2.19 and Elasticsearch 6.8, this test included.

// TestConformance: `schema`, `run --target search` for the three object
// types and `--rebuild`, `serve` in both modes, `verify`, `verify --repair
// --delete-orphans`, and every document byte for byte what the builder
// writes.
func TestConformance(t *testing.T) {
	url := testenv.SearchURL(t)
	base := testenv.NewKeyspace(t, 3000, 30, 51)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", base.Cass.Password.Reveal())
	ctx := context.Background()
	c, err := search.NewClient(search.Config{URLs: []string{url}, Retries: 3})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if name := testenv.EngineName(); name != "" {
		testenv.CheckEngine(t, name, info)
	}
	t.Logf("engine %s (%s) at %s", info, testenv.EngineName(), url)

	// schema: the three indexes behind fresh aliases, twice (idempotent)
	f := *base
	f.SearchURL, f.Search = url, c
	prefix := testenv.Name("it_conf")
	f.Aliases = map[string]string{"user": prefix + "_user", "organisation": prefix + "_org", "location": prefix + "_location"}
	t.Cleanup(func() {
		for _, a := range f.Aliases {
			ixs, _ := c.GetAlias(context.Background(), a)
			for _, ix := range ixs {
				_ = c.DeleteIndex(context.Background(), ix)
			}
		}
	})
	schemaArgs := append([]string{"schema", "--skip-cassandra", "--index-shards", "1", "--index-replicas", "0"}, f.SearchArgs()...)
	for i := range 2 {
		out, stderr, code := runCmd(t, schemaArgs...)
		if code != 0 {
			t.Fatalf("schema (%d): exit %d\n%s\n%s", i+1, code, out, stderr)
		}
	}
	for ot, alias := range f.Aliases {
		behind, err := c.AliasIndexes(ctx, alias)
		if err != nil || len(behind) != 1 || !behind[0].IsWriteIndex {
			t.Fatalf("after schema, %s (%s) points to %+v (%v); want one write index", alias, ot, behind, err)
		}
	}

	// run --target search: every document, byte for byte
	for _, ot := range []string{"user", "organisation", "location"} {
		if _, stderr, code := runCmd(t, searchRunArgs(&f, t.TempDir(), "--object-type", ot)...); code != 0 {
			t.Fatalf("run --target search --object-type %s: exit %d\n%s", ot, code, stderr)
		}
		sameBytes(t, ot, f.ExpectedDocs(t, ot), rawDocs(t, c, f.Aliases[ot], keys(f.ExpectedDocs(t, ot))))
	}

	// --rebuild: a fresh index with the old one's mapping, the alias moved
	oldIndex := onlyIndex(t, c, f.Aliases["user"])
	oldDef, err := c.GetIndexDefinition(ctx, oldIndex)
	if err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := runCmd(t, searchRunArgs(&f, t.TempDir(), "--rebuild")...); code != 0 {
		t.Fatalf("run --rebuild: exit %d\n%s\n%s", code, out, stderr)
	}
	newIndex := onlyIndex(t, c, f.Aliases["user"])
	newDef, err := c.GetIndexDefinition(ctx, newIndex)
	if err != nil {
		t.Fatal(err)
	}
	if newIndex == oldIndex || canonicalJSON(t, oldDef.Mappings) != canonicalJSON(t, newDef.Mappings) {
		t.Errorf("rebuild: %s → %s, mappings equal: %v", oldIndex, newIndex, canonicalJSON(t, oldDef.Mappings) == canonicalJSON(t, newDef.Mappings))
	}
	if ok, _ := c.IndexExists(ctx, oldIndex); !ok {
		t.Errorf("the old index %s was deleted without --delete-old", oldIndex)
	}
	t.Cleanup(func() { _ = c.DeleteIndex(context.Background(), oldIndex) })
	ids := f.UserIDs()
	sameBytes(t, "user (rebuilt)", f.ExpectedDocs(t, "user"), rawDocs(t, c, f.Aliases["user"], ids))

	// serve, sync mode: changed rows are indexed before the call answers
	syncURL := startServe(t, &f)
	renamed := ids[:20]
	for i, id := range renamed {
		if err := f.Session.Query(fmt.Sprintf("UPDATE %s.user SET firstname = ? WHERE id = ?", f.Keyspace), fmt.Sprintf("Conformance %d", i), id).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	code, env := postSync(t, syncURL, "user", renamed, true)
	es, _ := env["result"].(map[string]any)["esSyncResponse"].(map[string]any)
	if code != 200 || len(es) != len(renamed) {
		t.Fatalf("sync call: %d %v", code, env)
	}
	for i, id := range renamed {
		src, found, err := c.Get(ctx, f.Aliases["user"], id)
		if err != nil || !found || !bytes.Contains(src, fmt.Appendf(nil, `"firstName":"Conformance %d"`, i)) {
			t.Fatalf("user %s after the sync call: %s (found %v, %v)", id, src, found, err)
		}
	}

	// serve, background mode: deleted documents come back
	orgIDs := keys(f.ExpectedDocs(t, "organisation"))[:10]
	var dels []search.BulkItem
	for _, id := range orgIDs {
		dels = append(dels, search.BulkItem{ID: id, Op: search.OpDelete})
	}
	bulk(t, &f, "organisation", dels)
	if code, env := postSync(t, syncURL, "organisation", orgIDs, false); code != 200 || env["result"].(map[string]any)["response"] != "SUCCESS" {
		t.Fatalf("background call: %d %v", code, env)
	}
	waitFor(t, 60*time.Second, "the background sync of 10 organisations", func() bool {
		got, err := c.MGet(ctx, f.Aliases["organisation"], orgIDs)
		return err == nil && len(got) == len(orgIDs)
	})
	want := f.ExpectedDocs(t, "organisation")
	sameBytes(t, "organisation (background)", pick(want, orgIDs), rawDocs(t, c, f.Aliases["organisation"], orgIDs))

	// verify: drift of every kind found, repaired, gone
	stale, deletedRows, unindexed := ids[100:105], ids[105:109], ids[109:112]
	for i, id := range stale {
		if err := f.Session.Query(fmt.Sprintf("UPDATE %s.user SET lastname = ? WHERE id = ?", f.Keyspace), fmt.Sprintf("Drift %d", i), id).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range deletedRows {
		if err := f.Session.Query(fmt.Sprintf("DELETE FROM %s.user WHERE id = ?", f.Keyspace), id).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var items []search.BulkItem
	for _, id := range unindexed {
		items = append(items, search.BulkItem{ID: id, Op: search.OpDelete})
	}
	ghosts := []string{"conformance-ghost-1", "conformance-ghost-2"}
	for _, id := range ghosts {
		items = append(items, search.BulkItem{ID: id, Doc: []byte(`{"id":"` + id + `","identifier":"` + id + `"}`)})
	}
	bulk(t, &f, "user", items)
	_, code, rep := runVerifyCmd(t, &f)
	if code != exitSomeFailed || rep.Missing != 3 || rep.Stale != 5 || rep.Orphans != 6 {
		t.Errorf("verify: exit %d, missing %d, stale %d, orphans %d; want 1, 3, 5, 6", code, rep.Missing, rep.Stale, rep.Orphans)
	}
	if diff := cmp.Diff(sorted(append(slices.Clone(deletedRows), ghosts...)), sorted(rep.OrphanIDs)); diff != "" {
		t.Errorf("orphans (-want +got):\n%s", diff)
	}
	_, code, rep = runVerifyCmd(t, &f, "--repair", "--delete-orphans")
	if code != 0 || rep.Repair == nil || rep.Repair.Repaired != 8 || rep.Repair.Deleted != 6 || rep.Remaining != 0 {
		t.Errorf("verify --repair --delete-orphans: exit %d, repair %+v, remaining %d; want 0, 8 repaired, 6 deleted, 0", code, rep.Repair, rep.Remaining)
	}
	_, code, rep = runVerifyCmd(t, &f)
	if code != 0 || rep.Missing+rep.Stale+rep.Orphans != 0 || rep.IndexDocs != 3000-4 {
		t.Errorf("verify after the repair: exit %d, missing %d, stale %d, orphans %d, %d documents; want 0 everywhere and 2996", code, rep.Missing, rep.Stale, rep.Orphans, rep.IndexDocs)
	}
	// the repaired documents are what a sync writes
	sameBytes(t, "user (repaired)", pick(f.ExpectedDocs(t, "user"), unindexed), rawDocs(t, c, f.Aliases["user"], unindexed))
}

// sameBytes wants every document stored exactly as the builder encodes it:
// the engine keeps _source as sent.
func sameBytes(t *testing.T, what string, want map[string][]byte, got map[string]string) {
	t.Helper()
	bad := 0
	for id, w := range want {
		if g, ok := got[id]; !ok || g != string(w) {
			if bad++; bad <= 3 {
				t.Errorf("%s %s: stored\n %s\nwant\n %s", what, id, g, w)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d documents differ from what the builder writes", what, bad, len(want))
	}
}

func keys(m map[string][]byte) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func pick(m map[string][]byte, ids []string) map[string][]byte {
	out := map[string][]byte{}
	for _, id := range ids {
		out[id] = m[id]
	}
	return out
}

func onlyIndex(t *testing.T, c *search.Client, alias string) string {
	t.Helper()
	ixs, err := c.GetAlias(context.Background(), alias)
	if err != nil || len(ixs) != 1 {
		t.Fatalf("%s points to %v (%v), want one index", alias, ixs, err)
	}
	return ixs[0]
}

// postSync calls the Sync API of startServe.
func postSync(t *testing.T, url, objectType string, ids []string, sync bool) (int, map[string]any) {
	t.Helper()
	req := map[string]any{"objectType": objectType, "objectIds": ids, "operationFor": "es"}
	if sync {
		req["operationType"] = "sync"
	}
	body, _ := json.Marshal(map[string]any{"params": map[string]any{}, "request": req})
	hr, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, env
}

// TestEnginesSameDocuments: one keyspace synced into every engine of
// INDEXSYNC_TEST_ENGINES — straight into the index and through the Sync API —
// gives the same _source bytes on all of them, the bytes the builder writes.
func TestEnginesSameDocuments(t *testing.T) {
	engines := testenv.Engines(t)
	if len(engines) < 2 {
		t.Skipf("one engine (%s): nothing to compare with", engines[0].Name)
	}
	base := testenv.NewKeyspace(t, 2000, 30, 52)
	t.Setenv("INDEXSYNC_CASSANDRA_PASSWORD", base.Cass.Password.Reveal())
	stored := map[string]map[string]map[string]string{} // engine → object type → id → _source
	var expected map[string]map[string][]byte
	for _, e := range engines {
		f := base.OnEngine(t, e.URL)
		if expected == nil {
			expected = map[string]map[string][]byte{}
			for _, ot := range []string{"user", "organisation", "location"} {
				expected[ot] = f.ExpectedDocs(t, ot)
			}
		}
		for _, ot := range []string{"user", "organisation", "location"} {
			if _, stderr, code := runCmd(t, searchRunArgs(f, t.TempDir(), "--object-type", ot)...); code != 0 {
				t.Fatalf("%s: run --object-type %s: exit %d\n%s", e.Name, ot, code, stderr)
			}
		}
		// a tenth of the users again through the Sync API (serve builds
		// them by id): the same bytes replace the same bytes
		ids := f.UserIDs()[:200]
		syncURL := startServe(t, f)
		if code, env := postSync(t, syncURL, "user", ids, true); code != 200 {
			t.Fatalf("%s: sync call: %d %v", e.Name, code, env)
		}
		stored[e.Name] = map[string]map[string]string{}
		for ot, want := range expected {
			stored[e.Name][ot] = rawDocs(t, f.Search, f.Aliases[ot], keys(want))
			sameBytes(t, e.Name+" "+ot, want, stored[e.Name][ot])
		}
	}
	first := engines[0].Name
	for _, e := range engines[1:] {
		for ot, docs := range stored[first] {
			diffs := 0
			for id, src := range docs {
				if stored[e.Name][ot][id] != src {
					if diffs++; diffs <= 3 {
						t.Errorf("%s %s differs between %s and %s:\n %s\n %s", ot, id, first, e.Name, src, stored[e.Name][ot][id])
					}
				}
			}
			if diffs == 0 && len(docs) != len(stored[e.Name][ot]) {
				t.Errorf("%s: %d documents on %s, %d on %s", ot, len(docs), first, len(stored[e.Name][ot]), e.Name)
			}
		}
	}
	n := 0
	for _, docs := range stored[first] {
		n += len(docs)
	}
	t.Logf("%d documents, byte-identical on %d engines", n, len(engines))
}
