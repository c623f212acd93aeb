package search

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// IndexDefinition is how an index was created, as the engine reports it
// (GET /{index}): enough to create another index like it.
type IndexDefinition struct {
	Index string // the concrete index
	// Settings are the index settings as the engine reports them, nested:
	// {"number_of_shards":"5","analysis":{…},…} (the object under "index").
	Settings map[string]any
	// Mappings are typeless: {"dynamic":…,"properties":{…}}; empty when the
	// index has none.
	Mappings json.RawMessage
	// DocType is the mapping type of a 6.x index ("_doc" for Sunbird's), ""
	// when the engine reported typeless mappings.
	DocType string
}

// GetIndexDefinition returns the definition of index, a concrete index or an
// alias on exactly one index.
func (c *Client) GetIndexDefinition(ctx context.Context, index string) (IndexDefinition, error) {
	dl, err := c.ensureDialect(ctx)
	if err != nil {
		return IndexDefinition{}, fmt.Errorf("read the definition of %s: %w", index, err)
	}
	r := &request{op: "get_index", method: http.MethodGet, path: indexPath(index), query: dl.indexQuery(), idempotent: true, read: true}
	res, err := c.do(ctx, r, nil)
	if err != nil {
		return IndexDefinition{}, fmt.Errorf("read the definition of %s: %w", index, err)
	}
	var m map[string]struct {
		Mappings json.RawMessage `json:"mappings"`
		Settings struct {
			Index map[string]any `json:"index"`
		} `json:"settings"`
	}
	if err := c.decode(r, res, &m); err != nil {
		return IndexDefinition{}, fmt.Errorf("read the definition of %s: %w", index, err)
	}
	if len(m) != 1 {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		return IndexDefinition{}, fmt.Errorf("read the definition of %s: it names %d indexes (%s), want one", index, len(m), strings.Join(names, ", "))
	}
	var d IndexDefinition
	for name, v := range m {
		d.Index, d.Settings = name, v.Settings.Index
		d.Mappings, d.DocType, err = typelessMappings(v.Mappings)
		if err != nil {
			return IndexDefinition{}, fmt.Errorf("read the definition of %s: %w", name, err)
		}
	}
	if d.Settings == nil {
		d.Settings = map[string]any{}
	}
	return d, nil
}

// mappingKeys are the keys a typeless mapping may have at its top; a typed
// 6.x mapping has one key that is none of them, the type's name.
var mappingKeys = map[string]bool{
	"properties": true, "dynamic": true, "dynamic_templates": true, "_source": true, "_routing": true,
	"_meta": true, "date_detection": true, "numeric_detection": true, "dynamic_date_formats": true,
	"_field_names": true, "_all": true, "enabled": true, "runtime": true, "_data_stream_timestamp": true,
}

// typelessMappings unwraps a 6.x typed mapping ({"_doc":{…}}) and says the
// type's name; a typeless mapping is returned as it is.
func typelessMappings(raw json.RawMessage) (json.RawMessage, string, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, "", nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, "", fmt.Errorf("mappings are not a JSON object: %w", err)
	}
	if len(top) == 1 {
		for k, v := range top {
			if !mappingKeys[k] && len(bytes.TrimSpace(v)) > 0 && bytes.TrimSpace(v)[0] == '{' {
				return v, k, nil
			}
		}
	}
	return raw, "", nil
}

// privateSettings are index settings the engine reports but refuses at
// creation (they describe this index, not how to make one), and settings
// that must not carry over to a fresh index: blocks (a read-only old index
// would give a read-only new one) and shrink/resize/recovery bookkeeping.
// Dotted paths under "index".
var privateSettings = []string{
	"uuid", "creation_date", "creation_date_string", "version", "provided_name",
	"resize", "shrink", "routing.allocation.initial_recovery", "blocks",
	"verified_before_close", "frozen", "search.throttled", "number_of_routing_shards",
	"history.uuid", "store.snapshot",
}

// CreateBody returns a create-index body for an index like d: its mappings
// and every setting the engine takes back at creation. set overrides index
// settings by dotted path ("number_of_replicas", "refresh_interval"); a nil
// value removes the setting.
func (d IndexDefinition) CreateBody(set map[string]any) ([]byte, error) {
	settings := deepCopy(d.Settings)
	for _, p := range privateSettings {
		deletePath(settings, p)
	}
	for p, v := range set {
		if v == nil {
			deletePath(settings, p)
			continue
		}
		deletePath(settings, p)
		setPath(settings, p, v)
	}
	body := map[string]any{"settings": map[string]any{"index": settings}}
	if len(d.Mappings) > 0 {
		body["mappings"] = d.Mappings
	}
	return json.Marshal(body)
}

// Setting returns an index setting by dotted path, whether the engine
// reported it nested or flat ("refresh_interval", "routing.allocation…").
func (d IndexDefinition) Setting(path string) (any, bool) {
	var cur any = d.Settings
	parts := strings.Split(path, ".")
	for i, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok := m[strings.Join(parts[i:], ".")]; ok { // a flat key
			return v, true
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopy(sub)
		}
		out[k] = v
	}
	return out
}

// deletePath removes a dotted path, written nested or flat.
func deletePath(m map[string]any, path string) {
	delete(m, path)
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		return
	}
	if sub, ok := m[head].(map[string]any); ok {
		deletePath(sub, rest)
		if len(sub) == 0 {
			delete(m, head)
		}
	}
}

func setPath(m map[string]any, path string, v any) {
	head, rest, nested := strings.Cut(path, ".")
	if !nested {
		m[head] = v
		return
	}
	sub, ok := m[head].(map[string]any)
	if !ok {
		sub = map[string]any{}
		m[head] = sub
	}
	setPath(sub, rest, v)
}
