package store_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/sunbird"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestDocumentsMatchTheGenerator reads every seeded object back by id, in
// batches that do not divide the block evenly, and checks each document
// against the one built from the generator's own rows; unknown ids come back
// as not found.
func TestDocumentsMatchTheGenerator(t *testing.T) {
	f := testenv.NewFixture(t, 600, 40, 5)
	st := store.New(f.Session, f.Keyspace, store.Options{Batch: 7, Concurrency: 3})
	ctx := context.Background()
	for _, kind := range sunbird.Kinds() {
		objectType := kind.Name
		want := f.ExpectedDocs(t, objectType)
		ids := make([]string, 0, len(want)+4)
		for id := range want {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		ids = append(ids, "no-such-id-1", "no-such-id-2")
		got := map[string][]byte{}
		var notFound []string
		for block := range slices.Chunk(ids, 100) {
			res, err := st.Documents(ctx, kind, block)
			if err != nil {
				t.Fatalf("%s: %v", objectType, err)
			}
			for id, d := range res.Docs {
				got[id] = d
			}
			notFound = append(notFound, res.NotFound...)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d documents, want %d", objectType, len(got), len(want))
		}
		testenv.CompareDocs(t, want, got)
		if !slices.Equal(notFound, []string{"no-such-id-1", "no-such-id-2"}) {
			t.Errorf("%s: not found = %q, want the two unknown ids", objectType, notFound)
		}
	}
}

// TestLoadOrgTypes: the organisation types come from system_settings when the
// row is there, Sunbird's defaults when the row or the whole table is
// missing, and none when the row cannot be parsed (Sunbird then sets no
// flags either).
func TestLoadOrgTypes(t *testing.T) {
	f := testenv.NewFixture(t, 0, 0, 6)
	ctx := context.Background()
	exec := func(stmt string) {
		t.Helper()
		if err := f.Session.Query(stmt).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	names := func(ts sunbird.OrgTypes) []string {
		var out []string
		for _, x := range ts {
			out = append(out, fmt.Sprintf("%s=%d%v", x.Name, x.Value, x.Flags))
		}
		return out
	}
	check := func(what string, want []string) {
		t.Helper()
		got, from, err := store.LoadOrgTypes(ctx, f.Session, f.Keyspace)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !slices.Equal(names(got), want) {
			t.Errorf("%s: types %v (from %s), want %v", what, names(got), from, want)
		}
	}
	defaults := []string{"school=2[isSchool]", "board=5[isBoard]"}
	check("the seeded row", defaults)
	exec("UPDATE " + f.Keyspace + `.system_settings SET value = '{"fields":[{"name":"University","value":8,"flagNameList":["isUniversity"]}]}' WHERE id = 'orgTypeConfig'`)
	check("a changed row", []string{"university=8[isUniversity]"})
	exec("UPDATE " + f.Keyspace + ".system_settings SET value = 'not json' WHERE id = 'orgTypeConfig'")
	check("a broken row", nil)
	exec("DELETE FROM " + f.Keyspace + ".system_settings WHERE id = 'orgTypeConfig'")
	check("no row", defaults)
	exec("DROP TABLE " + f.Keyspace + ".system_settings")
	check("no table", defaults)
}

// TestDenseBlocksReadByTokenRange reads users the way a sync job sends them
// — blocks of ids in token order — and checks every document against the
// generator's, through both paths: a dense block is read with token-range
// queries (which also meet partitions not asked for, and must leave them
// out: the blocks skip every third user), and once the table's size is
// known, a block spread over the ring is read by key without trying a range.
// A fresh store given a spread block first tries a range, stops, and reads by
// key, with the same documents.
func TestDenseBlocksReadByTokenRange(t *testing.T) {
	f := testenv.NewFixture(t, 900, 30, 6)
	ctx := context.Background()
	kind := sunbird.UserKind
	want := f.ExpectedDocs(t, kind.Name)
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(cassandra.Token(a), cassandra.Token(b)) })
	var asked []string // two of every three users, in token order
	for i, id := range ids {
		if i%3 != 2 {
			asked = append(asked, id)
		}
	}

	st := store.New(f.Session, f.Keyspace, store.Options{})
	got := map[string][]byte{}
	read := func(block []string, unknown ...string) {
		t.Helper()
		res, err := st.Documents(ctx, kind, block)
		if err != nil {
			t.Fatal(err)
		}
		for id, d := range res.Docs {
			if !slices.Contains(block, id) {
				t.Errorf("document %s was not asked for", id)
			}
			got[id] = d
		}
		if !slices.Equal(res.NotFound, unknown) {
			t.Errorf("not found: %q, want %q", res.NotFound, unknown)
		}
	}
	blocks := 0
	for block := range slices.Chunk(asked, 100) {
		read(block)
		blocks++
	}
	wantAsked := map[string][]byte{}
	for _, id := range asked {
		wantAsked[id] = want[id]
	}
	if len(got) != len(asked) {
		t.Errorf("%d documents, want %d", len(got), len(asked))
	}
	testenv.CompareDocs(t, wantAsked, got)
	tables := 1 + len(kind.Children)
	c := st.Reads()
	if c.Range != int64(blocks*tables) || c.RangeStop != 0 || c.Keys != 0 {
		t.Errorf("reads of %d dense blocks = %+v, want %d token-range queries and nothing else", blocks, c, blocks*tables)
	}

	// The other users, spread over the ring: now that the tables' sizes are
	// known, read by key straight away.
	var spread []string
	for i := 2; i < len(ids); i += 3 {
		spread = append(spread, ids[i])
	}
	spread = spread[:100]
	got = map[string][]byte{}
	slices.Reverse(spread) // order does not matter
	read(spread[:50])
	read(append(spread[50:], "no-such-id"), "no-such-id")
	// (a child table with fewer partitions than 3 per id asked may still be
	// read whole by range: that is cheaper than the reads by key)
	after := st.Reads()
	if after.RangeStop != 0 || after.Keys == 0 {
		t.Errorf("reads of spread blocks = %+v (before: %+v), want reads by key and no range read stopped", after, c)
	}
	wantSpread := map[string][]byte{}
	for _, id := range spread {
		wantSpread[id] = want[id]
	}
	testenv.CompareDocs(t, wantSpread, got)

	// A fresh store knows no sizes: the first spread block tries a range
	// read, which stops after 3 partitions per id (+32), and reads by key.
	st = store.New(f.Session, f.Keyspace, store.Options{})
	got = map[string][]byte{}
	var wide []string // 30 users over the whole ring
	for i := 2; i < len(ids); i += 30 {
		wide = append(wide, ids[i])
	}
	read(wide)
	if c := st.Reads(); c.RangeStop == 0 || c.Keys == 0 {
		t.Errorf("reads of a spread block by a fresh store = %+v, want a range read stopped and reads by key", c)
	}
	testenv.CompareDocs(t, subset(want, wide), got)
}

func subset(m map[string][]byte, keys []string) map[string][]byte {
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

// TestUnwritableDocumentFailsAlone: a user whose row holds a value JSON
// cannot carry (a NaN in an extra float column of the deployment) is
// reported in Failed, with the reason, and the other users of the block
// still get their documents — through a token-range read and a read by key.
func TestUnwritableDocumentFailsAlone(t *testing.T) {
	f := testenv.NewFixture(t, 60, 5, 7)
	ctx := context.Background()
	ids := f.UserIDs()
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(cassandra.Token(a), cassandra.Token(b)) })
	bad := ids[len(ids)/2]
	for _, stmt := range []string{
		fmt.Sprintf(`ALTER TABLE %s.user ADD score double`, f.Keyspace),
		fmt.Sprintf(`UPDATE %s.user SET score = NaN WHERE id = '%s'`, f.Keyspace, bad),
	} {
		if err := f.Session.Query(stmt).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, block := range [][]string{ids, {ids[0], bad}} { // range read; by key (fewer than 16 ids)
		res, err := store.New(f.Session, f.Keyspace, store.Options{}).Documents(ctx, sunbird.UserKind, block)
		if err != nil {
			t.Fatal(err)
		}
		if reason := res.Failed[bad]; !strings.Contains(reason, "encode document") || !strings.Contains(reason, "score") {
			t.Errorf("block of %d: Failed[%s] = %q, want the encoding error naming the column", len(block), bad, reason)
		}
		if _, ok := res.Docs[bad]; ok || len(res.Failed) != 1 || len(res.Docs) != len(block)-1 || len(res.NotFound) != 0 {
			t.Errorf("block of %d: %d documents, failed %v, not found %v; want every id but %s written", len(block), len(res.Docs), res.Failed, res.NotFound, bad)
		}
	}
}
