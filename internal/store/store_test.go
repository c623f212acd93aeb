package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

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
				b, err := d.Encode()
				if err != nil {
					t.Fatal(err)
				}
				got[id] = b
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
