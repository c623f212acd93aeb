package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/atomicfile"
	"github.com/indexsync/indexsync/internal/config"
	"github.com/indexsync/indexsync/internal/search"
)

// RebuildAdmin is what a rebuild needs from a search client.
type RebuildAdmin interface {
	AliasIndexes(ctx context.Context, alias string) ([]search.AliasIndex, error)
	IndexExists(ctx context.Context, name string) (bool, error)
	GetIndexDefinition(ctx context.Context, index string) (search.IndexDefinition, error)
	CreateIndex(ctx context.Context, name string, body []byte) error
	UpdateAliases(ctx context.Context, actions []search.AliasAction) error
	PutSettings(ctx context.Context, index string, body []byte) error
	Refresh(ctx context.Context, index string) error
	DeleteIndex(ctx context.Context, name string) error
}

// Where a rebuild takes the new index's definition from (--mapping).
const (
	// MappingCurrent copies the index the alias points at now, so whatever a
	// deployment changed in its mappings survives; ours when there is none.
	MappingCurrent = ""
	// MappingBuiltin uses our definitions (docs/sunbird-indexes.md).
	MappingBuiltin = "builtin"
)

// RebuildOptions choose the new index's definition.
type RebuildOptions struct {
	// Mapping is MappingCurrent, MappingBuiltin or the path of a file with a
	// create-index body.
	Mapping string
	// Shards and Replicas of the new index; below zero: those of the index
	// the definition comes from.
	Shards, Replicas int
}

// NoRebuildOptions are the options' values when none is given.
var NoRebuildOptions = RebuildOptions{Shards: -1, Replicas: -1}

// Check reports every problem of the options (--mapping, --index-shards,
// --index-replicas) at once; rebuild says whether --rebuild is on.
func (o RebuildOptions) Check(rebuild bool) error {
	var errs []error
	if !rebuild && o != NoRebuildOptions {
		errs = append(errs, errors.New("--mapping, --index-shards and --index-replicas only go with --rebuild"))
	}
	if o.Shards == 0 || o.Shards < -1 || o.Shards > 1024 {
		errs = append(errs, fmt.Errorf("--index-shards %d: give 1 to 1024 (-1: those of the index it replaces)", o.Shards))
	}
	if o.Replicas < -1 || o.Replicas > 64 {
		errs = append(errs, fmt.Errorf("--index-replicas %d: give 0 to 64 (-1: those of the index it replaces)", o.Replicas))
	}
	if o.Mapping != MappingCurrent && o.Mapping != MappingBuiltin {
		if _, err := os.Stat(o.Mapping); err != nil {
			errs = append(errs, fmt.Errorf("--mapping: %w (give a file with a create-index body, or builtin)", err))
		}
	}
	return config.Join(errs...)
}

// Rebuild is a load into a fresh index that replaces the one behind an alias
// only when it is complete. It is saved in the state directory so that a
// resumed run keeps loading the same index.
type Rebuild struct {
	Alias string   `json:"alias"`
	Index string   `json:"index"` // the fresh index being loaded
	Old   []string `json:"old"`   // the indexes behind the alias when the rebuild began
	// OldIsIndex: Alias named a concrete index (Sunbird's location), which
	// the swap replaces by an alias of the same name, deleting it.
	OldIsIndex bool `json:"oldIsIndex,omitempty"`
	// Definition says where the new index's mappings and settings came from.
	Definition string `json:"definition"`
	// Restored when the load is done: the replicas (or auto-expansion) and
	// refresh interval of the index the definition came from.
	Replicas           int    `json:"replicas"`
	AutoExpandReplicas string `json:"autoExpandReplicas,omitempty"`
	RefreshInterval    string `json:"refreshInterval,omitempty"`
}

// RebuildFile is where a rebuild is remembered in the state directory.
const RebuildFile = "rebuild.json"

// StartRebuild creates a fresh index of ix for alias, with no replicas and
// refresh off for the load. The alias is not touched.
func StartRebuild(ctx context.Context, admin RebuildAdmin, ix Index, alias string, opts RebuildOptions, now time.Time) (Rebuild, error) {
	behind, err := admin.AliasIndexes(ctx, alias)
	if err != nil {
		return Rebuild{}, fmt.Errorf("look up alias %s: %w", alias, err)
	}
	r := Rebuild{Alias: alias, Index: ix.NewName(now)}
	for _, b := range behind {
		r.Old = append(r.Old, b.Name)
	}
	if len(behind) == 0 {
		exists, err := admin.IndexExists(ctx, alias)
		if err != nil {
			return Rebuild{}, err
		}
		if exists {
			r.Old, r.OldIsIndex = []string{alias}, true
			behind = []search.AliasIndex{{Name: alias}}
		}
	}
	def, err := rebuildDefinition(ctx, admin, ix, behind, opts.Mapping)
	if err != nil {
		return Rebuild{}, err
	}
	r.Definition = def.Index
	if def.DocType != "" && def.DocType != "_doc" {
		return Rebuild{}, fmt.Errorf("%s has the mapping type %q; indexsync writes Sunbird's type _doc: give --mapping builtin or --mapping FILE", def.Index, def.DocType)
	}

	r.Replicas = 1
	if v, ok := def.Setting("number_of_replicas"); ok {
		if n, err := strconv.Atoi(fmt.Sprint(v)); err == nil {
			r.Replicas = n
		}
	}
	if v, ok := def.Setting("auto_expand_replicas"); ok && fmt.Sprint(v) != "false" {
		r.AutoExpandReplicas = fmt.Sprint(v)
	}
	if v, ok := def.Setting("refresh_interval"); ok && fmt.Sprint(v) != "-1" {
		r.RefreshInterval = fmt.Sprint(v)
	}
	if opts.Replicas >= 0 {
		r.Replicas, r.AutoExpandReplicas = opts.Replicas, ""
	}
	set := map[string]any{
		"number_of_replicas": 0, "auto_expand_replicas": nil, "refresh_interval": "-1",
	}
	if opts.Shards > 0 {
		set["number_of_shards"] = opts.Shards
	}
	body, err := def.CreateBody(set)
	if err != nil {
		return Rebuild{}, err
	}
	if err := admin.CreateIndex(ctx, r.Index, body); err != nil {
		return Rebuild{}, fmt.Errorf("create index %s (definition from %s): %w", r.Index, r.Definition, err)
	}
	return r, nil
}

// rebuildDefinition picks the new index's definition: a file, ours, or that
// of the index behind the alias (its write index, else the newest by name:
// versioned names sort by time, and a re-created bare "userv3" sorts first).
func rebuildDefinition(ctx context.Context, admin RebuildAdmin, ix Index, behind []search.AliasIndex, mapping string) (search.IndexDefinition, error) {
	switch {
	case mapping == MappingBuiltin || (mapping == MappingCurrent && len(behind) == 0):
		def, err := ix.Definition()
		def.Index = "builtin " + ix.ObjectType + " definition"
		return def, err
	case mapping != MappingCurrent:
		b, err := os.ReadFile(mapping)
		if err != nil {
			return search.IndexDefinition{}, fmt.Errorf("--mapping: %w", err)
		}
		def, err := search.ParseIndexDefinition(b)
		if err != nil {
			return def, fmt.Errorf("--mapping %s: %w", mapping, err)
		}
		def.Index = mapping
		return def, nil
	}
	src := behind[len(behind)-1].Name
	for _, b := range behind {
		if b.IsWriteIndex {
			src = b.Name
		}
	}
	return admin.GetIndexDefinition(ctx, src)
}

// Finish restores the settings of the loaded index, refreshes it, and moves
// the alias to it from the old indexes in one atomic call, marking it as the
// alias's write index. An old concrete index of the alias's name is deleted
// in that same call. With deleteOld the other old indexes are deleted after.
func (r Rebuild) Finish(ctx context.Context, admin RebuildAdmin, deleteOld bool) error {
	settings := map[string]any{"refresh_interval": nil, "number_of_replicas": r.Replicas}
	if r.RefreshInterval != "" {
		settings["refresh_interval"] = r.RefreshInterval
	}
	if r.AutoExpandReplicas != "" {
		settings["auto_expand_replicas"] = r.AutoExpandReplicas
		delete(settings, "number_of_replicas")
	}
	body, err := json.Marshal(map[string]any{"index": settings})
	if err != nil {
		return err
	}
	if err := admin.PutSettings(ctx, r.Index, body); err != nil {
		return err
	}
	if err := admin.Refresh(ctx, r.Index); err != nil {
		return err
	}
	if behind, err := admin.AliasIndexes(ctx, r.Alias); err == nil && len(behind) == 1 && behind[0].Name == r.Index {
		// moved already, by an earlier attempt of this run that stopped after it
		return r.deleteOld(ctx, admin, deleteOld)
	}
	actions := []search.AliasAction{{Op: search.AliasAdd, Index: r.Index, Alias: r.Alias, WriteIndex: true}}
	for _, o := range r.Old {
		if r.OldIsIndex {
			actions = append(actions, search.AliasAction{Op: search.AliasRemoveIndex, Index: o})
		} else {
			actions = append(actions, search.AliasAction{Op: search.AliasRemove, Index: o, Alias: r.Alias})
		}
	}
	if err := admin.UpdateAliases(ctx, actions); err != nil {
		return fmt.Errorf("swap alias %s to %s: %w", r.Alias, r.Index, err)
	}
	return r.deleteOld(ctx, admin, deleteOld)
}

func (r Rebuild) deleteOld(ctx context.Context, admin RebuildAdmin, deleteOld bool) error {
	if !deleteOld || r.OldIsIndex {
		return nil
	}
	for _, o := range r.Old {
		exists, err := admin.IndexExists(ctx, o)
		if err == nil && !exists {
			continue // deleted by an earlier attempt
		}
		if err := admin.DeleteIndex(ctx, o); err != nil {
			return fmt.Errorf("alias %s now on %s, but deleting the old index %s failed: %w", r.Alias, r.Index, o, err)
		}
	}
	return nil
}

// Save writes the rebuild into dir, atomically.
func (r Rebuild) Save(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, RebuildFile), b)
}

// BeginRebuild starts a rebuild for alias and saves it in stateDir, or, for
// a resumed run, reads the one it saved.
func BeginRebuild(ctx context.Context, admin RebuildAdmin, ix Index, alias string, opts RebuildOptions, stateDir string, resuming bool) (Rebuild, error) {
	if resuming {
		rb, err := LoadRebuild(stateDir)
		if err != nil {
			return rb, config.Usagef("--resume --rebuild: cannot read %s in %s: %v", RebuildFile, stateDir, err)
		}
		return rb, nil
	}
	rb, err := StartRebuild(ctx, admin, ix, alias, opts, time.Now())
	if err != nil {
		return rb, err
	}
	if err := rb.Save(stateDir); err != nil {
		return rb, &config.UsageError{Err: fmt.Errorf("save the rebuild state: %w", err)}
	}
	return rb, nil
}

// LoadRebuild reads the rebuild saved in dir.
func LoadRebuild(dir string) (Rebuild, error) {
	var r Rebuild
	b, err := os.ReadFile(filepath.Join(dir, RebuildFile))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", RebuildFile, err)
	}
	if r.Alias == "" || r.Index == "" {
		return r, errors.New(RebuildFile + ": no alias or index in it")
	}
	return r, nil
}

// SwapSummary says in one line what Finish did.
func (r Rebuild) SwapSummary(deleteOld bool) string {
	was := strings.Join(r.Old, ", ")
	if was == "" {
		was = "nothing"
	}
	s := fmt.Sprintf("Alias %s now points to %s (was %s)", r.Alias, r.Index, was)
	switch {
	case r.OldIsIndex:
		s += fmt.Sprintf("; the concrete index %s was replaced by the alias", r.Alias)
	case deleteOld && len(r.Old) > 0:
		s += "; old index deleted"
	}
	return s
}
