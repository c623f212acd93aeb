package schema

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/indexsync/indexsync/internal/search"
)

//go:embed indexes/*.json
var indexFiles embed.FS

// Index describes one kind of search index: the documents of one object type.
type Index struct {
	ObjectType string // user, organisation, location
	Prefix     string // versioned index names start with it
	file       string
}

// The indexes of docs/sunbird-indexes.md, with Sunbird's index names as the
// prefixes of ours (userv3_<ts>, orgv3_<ts>, location_<ts>).
var (
	UserIndex         = Index{ObjectType: "user", Prefix: "userv3", file: "indexes/user.json"}
	OrganisationIndex = Index{ObjectType: "organisation", Prefix: "orgv3", file: "indexes/organisation.json"}
	LocationIndex     = Index{ObjectType: "location", Prefix: "location", file: "indexes/location.json"}
)

// IndexFor returns the index of an object type.
func IndexFor(objectType string) (Index, bool) {
	for _, ix := range []Index{UserIndex, OrganisationIndex, LocationIndex} {
		if ix.ObjectType == objectType {
			return ix, true
		}
	}
	return Index{}, false
}

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
