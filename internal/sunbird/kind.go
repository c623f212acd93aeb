package sunbird

import (
	"slices"
	"strings"
)

// Kind describes one type of Sunbird object that is synced: where its rows
// are, how its document is built, and which setting names its index. It is
// the one place that knows the three types; everything else asks it.
type Kind struct {
	// Name is the Sync API's objectType: user, organisation or location.
	Name string
	// Table holds one row per object, partitioned by Key.
	Table, Key string
	// Children are tables partitioned by the same key whose rows belong to
	// the object (a user's memberships and roles), in the order Build wants
	// them in Object.Children. One token range of the ring holds an object
	// and all its child rows.
	Children []Child
	// IndexFlag is the setting naming the index or alias of the documents
	// (user-index), and DefaultIndex its default (user_alias).
	IndexFlag, DefaultIndex string
	// IndexName is Sunbird's name of the index (userv3); ours are named after
	// it with a timestamp.
	IndexName string
	// UsesOrgTypes says that Build needs Lookups.OrgTypes.
	UsesOrgTypes bool

	build  func(Object, Lookups) Document
	orgIDs bool // Build looks up the names of the organisations userOrgIDs lists
}

// Child is a child table of a Kind.
type Child struct{ Table, Key string }

// Object is the rows one document is built from.
type Object struct {
	Row      Row
	Children [][]Row // by Kind.Children
}

// Lookups are what documents are built with besides their own rows.
type Lookups struct {
	OrgNames OrgNames // organisation names by id (users)
	OrgTypes OrgTypes // organisation types (organisations)
}

// The kinds.
var (
	UserKind = Kind{
		Name: "user", Table: "user", Key: "id",
		Children:  []Child{{"user_organisation", "userid"}, {"user_roles", "userid"}},
		IndexFlag: "user-index", DefaultIndex: "user_alias", IndexName: "userv3",
		orgIDs: true,
		build: func(o Object, l Lookups) Document {
			u := User{Row: o.Row}
			if len(o.Children) == 2 {
				u.Orgs, u.Roles = o.Children[0], o.Children[1]
			}
			return BuildUser(u, l.OrgNames)
		},
	}
	OrganisationKind = Kind{
		Name: "organisation", Table: "organisation", Key: "id",
		IndexFlag: "org-index", DefaultIndex: "org_alias", IndexName: "orgv3",
		UsesOrgTypes: true,
		build:        func(o Object, l Lookups) Document { return BuildOrganisation(o.Row, l.OrgTypes) },
	}
	LocationKind = Kind{
		Name: "location", Table: "location", Key: "id",
		IndexFlag: "location-index", DefaultIndex: "location", IndexName: "location",
		build: func(o Object, _ Lookups) Document { return BuildLocation(o.Row) },
	}
)

// Kinds returns the three kinds.
func Kinds() []Kind { return []Kind{UserKind, OrganisationKind, LocationKind} }

// KindNamed returns the kind of a Sync API objectType; the name is matched
// exactly, as Sunbird does.
func KindNamed(name string) (Kind, bool) {
	for _, k := range Kinds() {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// KindNames lists the kinds' names, for messages: "user, organisation or location".
func KindNames() string {
	names := make([]string, 0, 3)
	for _, k := range Kinds() {
		names = append(names, k.Name)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Build builds the document of an object.
func (k Kind) Build(o Object, l Lookups) Document { return k.build(o, l) }

// UsesOrgNames says that Build looks up organisation names (Lookups.OrgNames).
func (k Kind) UsesOrgNames() bool { return k.orgIDs }

// OrgIDs lists the organisations whose names the document of an object
// (its row and child rows, read as Values) names.
func (k Kind) OrgIDs(row Values, children [][]Values) []string {
	if !k.orgIDs {
		return nil
	}
	return userOrgIDs(row, children)
}

// get returns the value of column name, nil when the row has no such column.
func (v Values) get(name string) any {
	if i := slices.Index(v.Cols, name); i >= 0 {
		return v.Vals[i]
	}
	return nil
}

// userOrgIDs: a user's root organisation and the organisations of its
// memberships (the first child table).
func userOrgIDs(row Values, children [][]Values) []string {
	var out []string
	if id, ok := row.get("rootorgid").(string); ok && id != "" {
		out = append(out, id)
	}
	if len(children) > 0 {
		for _, m := range children[0] {
			if id, ok := m.get("organisationid").(string); ok && id != "" {
				out = append(out, id)
			}
		}
	}
	return out
}
