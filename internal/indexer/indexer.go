// Package indexer writes Sunbird documents into the search engine: it encodes
// them with the shared encoder (so every path writes the same bytes), sends
// them in bulk requests bounded by count and bytes to the index of their
// object type, and reports each id that failed with the engine's reason.
package indexer

import (
	"context"
	"fmt"
	"sort"

	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/sunbird"
)

// Indexes names the index (or alias) of each kind, by kind name.
type Indexes map[string]string

// For returns the index of a kind.
func (ix Indexes) For(k sunbird.Kind) (string, error) {
	if name, ok := ix[k.Name]; ok && name != "" {
		return name, nil
	}
	return "", fmt.Errorf("no index configured for %s documents", k.Name)
}

// Bulker sends one bulk request (search.Client does).
type Bulker interface {
	Bulk(ctx context.Context, index string, items []search.BulkItem) ([]search.ItemResult, error)
}

// Defaults of a Writer's bounds (also --bulk-bytes's).
const (
	DefaultMaxDocs  = 1000
	DefaultMaxBytes = 5 << 20
)

// Writer indexes documents.
type Writer struct {
	Client   Bulker
	Indexes  Indexes
	MaxDocs  int // documents per bulk request; 0 = DefaultMaxDocs
	MaxBytes int // bytes per bulk request; 0 = DefaultMaxBytes
}

// Write indexes docs (id → the document's JSON) with full-replace index operations. It
// returns the ids that failed and why; err is set only when the engine could
// not be used at all (then every id not confirmed is in failed too).
func (w *Writer) Write(ctx context.Context, kind sunbird.Kind, docs map[string][]byte) (map[string]string, error) {
	index, err := w.Indexes.For(kind)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(docs))
	for id := range docs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	failed := map[string]string{}
	items := make([]search.BulkItem, 0, min(len(ids), w.maxDocs()))
	size := 0
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		res, err := w.Client.Bulk(ctx, index, items)
		for _, r := range res {
			if !r.OK {
				failed[r.ID] = r.Error
			}
		}
		items, size = items[:0], 0
		return err
	}
	failRest := func(from int, err error) {
		for _, id := range ids[from:] {
			if _, ok := failed[id]; !ok {
				failed[id] = err.Error()
			}
		}
	}
	for i, id := range ids {
		body := docs[id]
		if len(items) > 0 && (len(items) >= w.maxDocs() || size+len(body) > w.maxBytes()) {
			if err := flush(); err != nil {
				failRest(i, err)
				return failed, err
			}
		}
		items = append(items, search.BulkItem{ID: id, Op: search.OpIndex, Doc: body})
		size += len(body) + len(id) + 64
	}
	if err := flush(); err != nil {
		return failed, err
	}
	return failed, nil
}

func (w *Writer) maxDocs() int {
	if w.MaxDocs > 0 {
		return w.MaxDocs
	}
	return DefaultMaxDocs
}

func (w *Writer) maxBytes() int {
	if w.MaxBytes > 0 {
		return w.MaxBytes
	}
	return DefaultMaxBytes
}
