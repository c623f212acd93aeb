package schema

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/indexsync/indexsync/internal/search"
)

// RebuildAdmin is what a rebuild needs from a search client.
type RebuildAdmin interface {
	IndexAdmin
	GetSettings(ctx context.Context, index string) (map[string]json.RawMessage, error)
	PutSettings(ctx context.Context, index string, body []byte) error
	Refresh(ctx context.Context, index string) error
	DeleteIndex(ctx context.Context, name string) error
}

// Rebuild is a load into a fresh index that replaces the one behind an alias
// only when it is complete. It is saved in the state directory so that a
// resumed run keeps loading the same index.
type Rebuild struct {
	Alias    string   `json:"alias"`
	Index    string   `json:"index"`    // the fresh index being loaded
	Old      []string `json:"old"`      // the indexes behind the alias when the rebuild began
	Replicas int      `json:"replicas"` // restored when the load is done
}

// RebuildFile is where a rebuild is remembered in the state directory.
const RebuildFile = "rebuild.json"

// StartRebuild creates a fresh index of ix for alias, with no replicas and
// refresh off for the load. The alias is not touched.
func StartRebuild(ctx context.Context, admin RebuildAdmin, ix Index, alias string, now time.Time) (Rebuild, error) {
	old, err := admin.GetAlias(ctx, alias)
	if err != nil {
		return Rebuild{}, fmt.Errorf("look up alias %s: %w", alias, err)
	}
	if len(old) == 0 {
		if exists, err := admin.IndexExists(ctx, alias); err != nil {
			return Rebuild{}, err
		} else if exists {
			return Rebuild{}, fmt.Errorf("%s is an index, not an alias: --rebuild swaps an alias (point an alias at the index first, or use another --user-index)", alias)
		}
	}
	r := Rebuild{Alias: alias, Index: ix.NewName(now), Old: old, Replicas: 1}
	if len(old) > 0 {
		if n, ok := replicasOf(ctx, admin, old[0]); ok {
			r.Replicas = n
		}
	}
	body, err := ix.Body(-1, 0)
	if err != nil {
		return Rebuild{}, err
	}
	var b map[string]any
	if err := json.Unmarshal(body, &b); err != nil {
		return Rebuild{}, err
	}
	b["settings"].(map[string]any)["index"].(map[string]any)["refresh_interval"] = "-1"
	body, _ = json.Marshal(b)
	if err := admin.CreateIndex(ctx, r.Index, body); err != nil {
		return Rebuild{}, fmt.Errorf("create index %s: %w", r.Index, err)
	}
	return r, nil
}

func replicasOf(ctx context.Context, admin RebuildAdmin, index string) (int, bool) {
	settings, err := admin.GetSettings(ctx, index)
	if err != nil {
		return 0, false
	}
	var s struct {
		Index struct {
			Replicas string `json:"number_of_replicas"`
		} `json:"index"`
	}
	if err := json.Unmarshal(settings[index], &s); err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(s.Index.Replicas)
	return n, err == nil
}

// Finish restores the settings of the loaded index, refreshes it, and moves
// the alias to it from the old indexes in one atomic call. With deleteOld the
// old indexes are then deleted.
func (r Rebuild) Finish(ctx context.Context, admin RebuildAdmin, deleteOld bool) error {
	settings := fmt.Sprintf(`{"index":{"refresh_interval":null,"number_of_replicas":%d}}`, r.Replicas)
	if err := admin.PutSettings(ctx, r.Index, []byte(settings)); err != nil {
		return err
	}
	if err := admin.Refresh(ctx, r.Index); err != nil {
		return err
	}
	actions := []search.AliasAction{{Op: search.AliasAdd, Index: r.Index, Alias: r.Alias}}
	for _, o := range r.Old {
		actions = append(actions, search.AliasAction{Op: search.AliasRemove, Index: o, Alias: r.Alias})
	}
	if err := admin.UpdateAliases(ctx, actions); err != nil {
		return fmt.Errorf("swap alias %s to %s: %w", r.Alias, r.Index, err)
	}
	if deleteOld {
		for _, o := range r.Old {
			if err := admin.DeleteIndex(ctx, o); err != nil {
				return fmt.Errorf("alias %s now on %s, but deleting the old index %s failed: %w", r.Alias, r.Index, o, err)
			}
		}
	}
	return nil
}

// Save writes the rebuild into dir.
func (r Rebuild) Save(dir string) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	return os.WriteFile(filepath.Join(dir, RebuildFile), b, 0o644)
}

// LoadRebuild reads the rebuild saved in dir.
func LoadRebuild(dir string) (Rebuild, error) {
	var r Rebuild
	b, err := os.ReadFile(filepath.Join(dir, RebuildFile))
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}
