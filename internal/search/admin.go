package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CreateIndex creates index name from a settings + mappings body (JSON,
// written typeless or under "_doc"; it is adapted to the engine). An empty
// body creates an index with the defaults.
func (c *Client) CreateIndex(ctx context.Context, name string, body []byte) error {
	d, err := c.ensureDialect(ctx)
	if err != nil {
		return fmt.Errorf("create index %s: %w", name, err)
	}
	body, err = d.createIndexBody(body)
	if err != nil {
		return fmt.Errorf("create index %s: %w", name, err)
	}
	r := &request{op: "create_index", method: http.MethodPut, path: indexPath(name), query: d.indexQuery()}
	if _, err := c.do(ctx, r, body); err != nil {
		return fmt.Errorf("create index %s: %w", name, err)
	}
	return nil
}

// IndexExists reports whether name is an index or an alias.
func (c *Client) IndexExists(ctx context.Context, name string) (bool, error) {
	r := &request{op: "index_exists", method: http.MethodHead, path: indexPath(name), idempotent: true, read: true}
	_, err := c.do(ctx, r, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("check index %s: %w", name, err)
}

// DeleteIndex deletes one concrete index. Wildcards, lists and _all are
// refused: this tool never needs them and a typo must not wipe a cluster.
// A missing index is an error matching ErrNotFound.
func (c *Client) DeleteIndex(ctx context.Context, name string) error {
	if name == "" || name == "_all" || strings.ContainsAny(name, "*,") {
		return fmt.Errorf("delete index %q: refusing a pattern, list or _all", name)
	}
	r := &request{op: "delete_index", method: http.MethodDelete, path: indexPath(name)}
	if _, err := c.do(ctx, r, nil); err != nil {
		return fmt.Errorf("delete index %s: %w", name, err)
	}
	return nil
}

// GetAlias returns the indices alias points to, sorted; none when the alias
// does not exist.
func (c *Client) GetAlias(ctx context.Context, alias string) ([]string, error) {
	ixs, err := c.AliasIndexes(ctx, alias)
	if err != nil || len(ixs) == 0 {
		return nil, err
	}
	names := make([]string, len(ixs))
	for i, ix := range ixs {
		names[i] = ix.Name
	}
	return names, nil
}

// AliasIndex is one index behind an alias.
type AliasIndex struct {
	Name string
	// IsWriteIndex: the alias sends writes to this index (is_write_index).
	// An alias on one index writes to it even when the flag is unset; an
	// alias on several indexes without a write index refuses every write.
	IsWriteIndex bool
}

// AliasIndexes returns the indexes behind alias, sorted by name; none when
// the alias does not exist.
func (c *Client) AliasIndexes(ctx context.Context, alias string) ([]AliasIndex, error) {
	r := &request{op: "get_alias", method: http.MethodGet, path: "/_alias/" + url.PathEscape(alias), idempotent: true, read: true}
	res, err := c.do(ctx, r, nil)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get alias %s: %w", alias, err)
	}
	var m map[string]struct {
		Aliases map[string]struct {
			IsWriteIndex *bool `json:"is_write_index"`
		} `json:"aliases"`
	}
	if err := c.decode(r, res, &m); err != nil {
		return nil, fmt.Errorf("get alias %s: %w", alias, err)
	}
	out := make([]AliasIndex, 0, len(m))
	for index, v := range m {
		a := v.Aliases[alias]
		out = append(out, AliasIndex{Name: index, IsWriteIndex: a.IsWriteIndex != nil && *a.IsWriteIndex})
	}
	slices.SortFunc(out, func(a, b AliasIndex) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// AliasOp is an alias action.
type AliasOp string

// Alias actions.
const (
	AliasAdd    AliasOp = "add"
	AliasRemove AliasOp = "remove"
	// AliasRemoveIndex deletes Index in the same atomic call: the way to
	// replace a concrete index by an alias of the same name.
	AliasRemoveIndex AliasOp = "remove_index"
)

// AliasAction adds or removes Alias on Index, or removes Index.
type AliasAction struct {
	Op    AliasOp
	Index string
	Alias string // not with AliasRemoveIndex
	// WriteIndex, with AliasAdd, marks Index as the alias's write index
	// (is_write_index, Elasticsearch 6.4+ and OpenSearch), so an index added
	// to the alias later cannot make every write fail.
	WriteIndex bool
}

// UpdateAliases applies all actions in one atomic _aliases call: readers see
// the alias before or after, never in between.
func (c *Client) UpdateAliases(ctx context.Context, actions []AliasAction) error {
	type target struct {
		Index        string `json:"index"`
		Alias        string `json:"alias,omitempty"`
		IsWriteIndex bool   `json:"is_write_index,omitempty"`
	}
	body := struct {
		Actions []map[AliasOp]target `json:"actions"`
	}{}
	for _, a := range actions {
		switch {
		case a.Op != AliasAdd && a.Op != AliasRemove && a.Op != AliasRemoveIndex:
			return fmt.Errorf("update aliases: unknown action %q", a.Op)
		case a.Index == "" || (a.Alias == "") != (a.Op == AliasRemoveIndex):
			return fmt.Errorf("update aliases: %s needs an index and an alias (remove_index: an index only)", a.Op)
		case a.WriteIndex && a.Op != AliasAdd:
			return fmt.Errorf("update aliases: only add can mark a write index")
		}
		body.Actions = append(body.Actions, map[AliasOp]target{a.Op: {Index: a.Index, Alias: a.Alias, IsWriteIndex: a.WriteIndex}})
	}
	if len(body.Actions) == 0 {
		return nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	r := &request{op: "update_aliases", method: http.MethodPost, path: "/_aliases"}
	if _, err := c.do(ctx, r, b); err != nil {
		return fmt.Errorf("update aliases: %w", err)
	}
	return nil
}

// PutSettings updates dynamic settings of index, for instance
// {"index":{"refresh_interval":"-1","number_of_replicas":0}}.
func (c *Client) PutSettings(ctx context.Context, index string, body []byte) error {
	r := &request{op: "put_settings", method: http.MethodPut, path: indexPath(index) + "/_settings", idempotent: true}
	if _, err := c.do(ctx, r, body); err != nil {
		return fmt.Errorf("put settings of %s: %w", index, err)
	}
	return nil
}

// GetSettings returns the settings of index (or of each index behind an
// alias), keyed by concrete index name; each value is the "settings" object,
// e.g. {"index":{"number_of_replicas":"1",…}}.
func (c *Client) GetSettings(ctx context.Context, index string) (map[string]json.RawMessage, error) {
	r := &request{op: "get_settings", method: http.MethodGet, path: indexPath(index) + "/_settings", idempotent: true, read: true}
	res, err := c.do(ctx, r, nil)
	if err != nil {
		return nil, fmt.Errorf("get settings of %s: %w", index, err)
	}
	var m map[string]struct {
		Settings json.RawMessage `json:"settings"`
	}
	if err := c.decode(r, res, &m); err != nil {
		return nil, fmt.Errorf("get settings of %s: %w", index, err)
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v.Settings
	}
	return out, nil
}

// Refresh makes everything indexed so far visible to searches.
func (c *Client) Refresh(ctx context.Context, index string) error {
	r := &request{op: "refresh", method: http.MethodPost, path: indexPath(index) + "/_refresh", idempotent: true}
	if _, err := c.do(ctx, r, nil); err != nil {
		return fmt.Errorf("refresh %s: %w", index, err)
	}
	return nil
}

// Count returns how many documents index holds (as of its last refresh).
func (c *Client) Count(ctx context.Context, index string) (int64, error) {
	r := &request{op: "count", method: http.MethodGet, path: indexPath(index) + "/_count", idempotent: true, read: true}
	res, err := c.do(ctx, r, nil)
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", index, err)
	}
	var out struct {
		Count  *int64      `json:"count"`
		Shards shardCounts `json:"_shards"`
	}
	if err := c.decode(r, res, &out); err != nil {
		return 0, fmt.Errorf("count %s: %w", index, err)
	}
	if out.Count == nil {
		return 0, fmt.Errorf("count %s: %w", index, c.responseError(r, res, errors.New("no count in the answer")))
	}
	if err := out.Shards.err(); err != nil {
		return 0, fmt.Errorf("count %s: %w", index, err)
	}
	return *out.Count, nil
}

func indexPath(name string) string { return "/" + url.PathEscape(name) }
