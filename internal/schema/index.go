package schema

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/search"
	"github.com/indexsync/indexsync/internal/sunbird"
)

//go:embed indexes/*.json
var indexFiles embed.FS

// Index is our definition of the search index of one kind
// (indexes/<kind>.json, docs/sunbird-indexes.md).
type Index struct {
	ObjectType string // the kind's name: user, organisation, location
	Prefix     string // Sunbird's index name (userv3): ours are <Prefix>_<ts>
	file       string
}

// IndexOf returns the index of a kind.
func IndexOf(k sunbird.Kind) Index {
	return Index{ObjectType: k.Name, Prefix: k.IndexName, file: "indexes/" + k.Name + ".json"}
}

// The indexes of the three kinds.
var (
	UserIndex         = IndexOf(sunbird.UserKind)
	OrganisationIndex = IndexOf(sunbird.OrganisationKind)
	LocationIndex     = IndexOf(sunbird.LocationKind)
)

// Body returns the create-index body (settings and typeless mappings). A
// shards or replicas value below zero keeps the file's value.
func (ix Index) Body(shards, replicas int) ([]byte, error) {
	raw, err := indexFiles.ReadFile(ix.file)
	if err != nil {
		return nil, fmt.Errorf("index definition %s: %w", ix.file, err)
	}
	if shards < 0 && replicas < 0 {
		return raw, nil
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("index definition %s: %w", ix.file, err)
	}
	idx := body["settings"].(map[string]any)["index"].(map[string]any)
	if shards >= 0 {
		idx["number_of_shards"] = shards
	}
	if replicas >= 0 {
		idx["number_of_replicas"] = replicas
	}
	return json.Marshal(body)
}

// Definition returns the built-in definition, parsed.
func (ix Index) Definition() (search.IndexDefinition, error) {
	raw, err := indexFiles.ReadFile(ix.file)
	if err != nil {
		return search.IndexDefinition{}, fmt.Errorf("index definition %s: %w", ix.file, err)
	}
	return search.ParseIndexDefinition(raw)
}

// NewName returns a fresh versioned index name, e.g. userv3_20261125t205512123.
func (ix Index) NewName(now time.Time) string {
	return ix.Prefix + "_" + strings.Replace(now.UTC().Format("20060102t150405.000"), ".", "", 1)
}
