package sunbird

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf16"
)

// OrgType is one organisation type of Sunbird's orgTypeConfig system setting:
// an organisation whose organisationType (or organisationSubType) holds all
// the bits of Value gets each of Flags set to true in its document.
type OrgType struct {
	Name  string
	Value int
	Flags []string
}

// OrgTypes are the organisation types in the order Sunbird tries them (see
// ParseOrgTypes). An empty OrgTypes sets no flags, as Sunbird does when its
// setting cannot be read.
type OrgTypes []OrgType

// DefaultOrgTypes is Sunbird's default orgTypeConfig: School = 2 → isSchool,
// Board = 5 → isBoard, in the order Sunbird's map yields them.
var DefaultOrgTypes = mustOrgTypes(`{"fields":[` +
	`{"name":"School","value":2,"displayName":"School","flagNameList":["isSchool"]},` +
	`{"name":"Board","value":5,"displayName":"Board","flagNameList":["isBoard"]}]}`)

func mustOrgTypes(s string) OrgTypes {
	t, err := ParseOrgTypes(s)
	if err != nil {
		panic(err)
	}
	return t
}

// ParseOrgTypes reads the value of the orgTypeConfig system setting:
// {"fields":[{"name":…,"value":…,"flagNameList":[…]},…]}. Sunbird keeps the
// types in a ConcurrentHashMap keyed by lower-cased name and stops at the
// first type that matches, so when several match, the map's iteration order
// decides: the types are returned in that order (Java's String.hashCode
// spread over the table's bins). A name given twice is an error, as
// Collectors.toConcurrentMap throws on a duplicate key.
func ParseOrgTypes(value string) (OrgTypes, error) {
	var cfg struct {
		Fields []struct {
			Name         string   `json:"name"`
			Value        *int     `json:"value"`
			FlagNameList []string `json:"flagNameList"`
		} `json:"fields"`
	}
	if err := json.Unmarshal([]byte(value), &cfg); err != nil {
		return nil, fmt.Errorf("orgTypeConfig is not the expected JSON: %w", err)
	}
	seen := map[string]bool{}
	types := make(OrgTypes, 0, len(cfg.Fields))
	for i, f := range cfg.Fields {
		name := strings.ToLower(f.Name)
		switch {
		case f.Value == nil:
			return nil, fmt.Errorf("orgTypeConfig: fields[%d] (%q) has no value", i, f.Name)
		case seen[name]:
			return nil, fmt.Errorf("orgTypeConfig: the type %q is given twice", f.Name)
		}
		seen[name] = true
		types = append(types, OrgType{Name: name, Value: *f.Value, Flags: f.FlagNameList})
	}
	return javaMapOrder(types), nil
}

// javaMapOrder orders types as a java.util.concurrent.ConcurrentHashMap
// built by Collectors.toConcurrentMap iterates them: by bin (the spread
// String.hashCode of the name, masked by the table size, 16 until more than
// 11 entries), and by insertion within a bin.
func javaMapOrder(types OrgTypes) OrgTypes {
	n := 16
	for len(types) >= n*3/4 { // Java resizes when the count reaches 0.75 × the table
		n *= 2
	}
	bins := make([][]OrgType, n)
	for _, t := range types {
		h := javaStringHash(t.Name)
		spread := (h ^ int32(uint32(h)>>16)) & 0x7fffffff
		b := int(spread) & (n - 1)
		bins[b] = append(bins[b], t)
	}
	out := make(OrgTypes, 0, len(types))
	for _, b := range bins {
		out = append(out, b...)
	}
	return out
}

// javaStringHash is java.lang.String.hashCode: over UTF-16 code units.
func javaStringHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

// flags sets to true the flags of the first type whose bits are all in v.
func (ts OrgTypes) flags(doc Document, v any) {
	n, ok := integer(v)
	if !ok {
		return
	}
	for _, t := range ts {
		if int(n)&t.Value == t.Value {
			for _, f := range t.Flags {
				doc[f] = true
			}
			return
		}
	}
}
