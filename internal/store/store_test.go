package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/indexsync/indexsync/internal/store"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestDocumentsMatchTheGenerator reads every seeded object back by id, in
// batches that do not divide the block evenly, and checks each document
// against the one built from the generator's own rows; unknown ids, blanks
// and repeats come back as not found or are dropped.
func TestDocumentsMatchTheGenerator(t *testing.T) {
	f := testenv.NewFixture(t, 600, 40, 5)
	st := store.New(f.Session, f.Keyspace, store.Options{Batch: 7, Concurrency: 3})
	ctx := context.Background()
	for _, objectType := range []string{store.User, store.Organisation, store.Location} {
		want := f.ExpectedDocs(t, objectType)
		ids := make([]string, 0, len(want)+4)
		for id := range want {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		ids = append(ids, "no-such-id-1", " ", ids[0], "no-such-id-2")
		got := map[string][]byte{}
		var notFound []string
		for block := range slices.Chunk(ids, 100) {
			res, err := st.Documents(ctx, objectType, block)
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
