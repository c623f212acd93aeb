package search

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ParseIndexDefinition reads a create-index body, as a file would hold it:
// {"settings":{…},"mappings":{…}}, with the mappings typeless or under a
// 6.x type name and the settings nested under "index" or not. "aliases" is
// ignored: an alias is moved by the caller, not created with the index.
func ParseIndexDefinition(body []byte) (IndexDefinition, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var top struct {
		Settings map[string]any  `json:"settings"`
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := dec.Decode(&top); err != nil {
		return IndexDefinition{}, fmt.Errorf("not a create-index body ({\"settings\":…,\"mappings\":…}): %w", err)
	}
	settings := map[string]any{}
	for k, v := range top.Settings {
		if k == "index" {
			if m, ok := v.(map[string]any); ok {
				for k2, v2 := range m {
					settings[k2] = v2
				}
				continue
			}
		}
		settings[trimIndexPrefix(k)] = v
	}
	mappings, docType, err := typelessMappings(top.Mappings)
	if err != nil {
		return IndexDefinition{}, err
	}
	return IndexDefinition{Settings: settings, Mappings: mappings, DocType: docType}, nil
}

// trimIndexPrefix turns a flat "index.refresh_interval" into
// "refresh_interval"; the rest of the settings live under "index" already.
func trimIndexPrefix(k string) string {
	if len(k) > len("index.") && k[:len("index.")] == "index." {
		return k[len("index."):]
	}
	return k
}
