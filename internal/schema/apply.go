package schema

import (
	"context"
	"fmt"
	"time"

	"github.com/indexsync/indexsync/internal/search"
)

// IndexAdmin is what EnsureIndex needs from a search client.
type IndexAdmin interface {
	GetAlias(ctx context.Context, alias string) ([]string, error)
	IndexExists(ctx context.Context, name string) (bool, error)
	CreateIndex(ctx context.Context, name string, body []byte) error
	UpdateAliases(ctx context.Context, actions []search.AliasAction) error
}

// Ensured says what EnsureIndex found or did.
type Ensured struct {
	Alias   string
	Index   string // the concrete index behind the alias
	Created bool
}

// EnsureIndex makes alias point to an index of ix. When the alias already
// exists (or a concrete index carries that name) nothing changes; otherwise a
// versioned index is created from ix's definition and the alias added to it.
func EnsureIndex(ctx context.Context, admin IndexAdmin, ix Index, alias string, body []byte, now time.Time) (Ensured, error) {
	indices, err := admin.GetAlias(ctx, alias)
	if err != nil {
		return Ensured{}, fmt.Errorf("look up alias %s: %w", alias, err)
	}
	if len(indices) > 0 {
		return Ensured{Alias: alias, Index: indices[0]}, nil
	}
	exists, err := admin.IndexExists(ctx, alias)
	if err != nil {
		return Ensured{}, fmt.Errorf("look up index %s: %w", alias, err)
	}
	if exists {
		return Ensured{Alias: alias, Index: alias}, nil
	}
	name := ix.NewName(now)
	if err := admin.CreateIndex(ctx, name, body); err != nil {
		return Ensured{}, fmt.Errorf("create index %s: %w", name, err)
	}
	if err := admin.UpdateAliases(ctx, []search.AliasAction{{Op: search.AliasAdd, Index: name, Alias: alias, WriteIndex: true}}); err != nil {
		return Ensured{}, fmt.Errorf("point alias %s at %s: %w", alias, name, err)
	}
	return Ensured{Alias: alias, Index: name, Created: true}, nil
}
