package sunbird

import (
	"errors"
	"slices"
	"strings"
	"time"
)

// Appender writes the documents of one kind straight from rows to their
// canonical JSON: exactly the bytes Build(o, l).Encode() gives (the tests
// hold the two equal on every case of the build tests and on generated
// users), without building the document as a map first.
//
// A sync builds one user document per row it reads, and the map (about fifty
// keys, plus one per membership and role), its sorting and its garbage were
// most of indexsync's own CPU per document. The Appender instead compiles,
// once per set of columns, a layout: the document's fields in key order,
// each with its key already escaped and where its value comes from. Writing a
// document is then one pass over the layout with a map lookup per column.
//
// BuildUser stays the definition of the document (and what the Sync API and
// verify use); the layouts are compiled from the same tables (overlayNull,
// the collection columns, FieldName) and follow its steps in the same order.
// Rows whose columns a layout cannot express (two columns with one field
// name) are written through Build. Organisations and locations, a few
// hundred rows at most, always are.
//
// An Appender is not safe for concurrent use; make one per goroutine.
type Appender struct {
	kind     Kind
	lookups  Lookups
	e        encoder
	layouts  [layoutSlots]*layout
	viaBuild int // user documents written through Build (the tests look)
}

// Appender returns an Appender of the kind's documents.
func (k Kind) Appender(l Lookups) *Appender { return &Appender{kind: k, lookups: l} }

// Append appends the canonical JSON of o's document to dst.
func (a *Appender) Append(dst []byte, o Object) ([]byte, error) {
	if a.kind.Name == UserKind.Name {
		u := User{Row: o.Row}
		if len(o.Children) == 2 {
			u.Orgs, u.Roles = o.Children[0], o.Children[1]
		}
		// a layout that does not fit a row is compiled again from that row;
		// more than one miss per layout means rows of mixed columns
		for range 2 * layoutSlots {
			b, err := a.user(dst, u)
			var miss *layoutMiss
			if !errors.As(err, &miss) {
				return b, err
			}
			if a.layouts[miss.slot] = compilers[miss.slot](miss.row); a.layouts[miss.slot] == nil {
				break
			}
		}
		a.viaBuild++
	}
	return a.e.value(dst, map[string]any(a.kind.Build(o, a.lookups)))
}

// The layouts an Appender keeps: the user row's, a membership's and a role's.
const (
	userSlot = iota
	orgSlot
	roleSlot
	layoutSlots
)

var compilers = [layoutSlots]func(Row) *layout{compileUser, compileMembership, compileRole}

// layoutMiss says that the layout of slot does not fit row.
type layoutMiss struct {
	slot int
	row  Row
}

func (m *layoutMiss) Error() string { return "layout does not fit the row" }

// op is how a field's value is made.
type op uint8

const (
	opCell           op = iota // the column's value, as copyRow puts it
	opNull                     // null (Sunbird's fixed overlay)
	opTrue                     // true (emailVerified, phoneVerified)
	opArray                    // the column's JSON text as an array, else []
	opObjectOrEmpty            // the column's JSON text as an object, else {}
	opObjectOrNull             // the column's JSON text as an object, else null
	opTnc                      // allTncAccepted: each value's JSON text as an object, else {}
	opStateValidated           // flagsValue ≥ 4; without an integer flagsValue, alt's value or no field
	opRootOrgName              // the root organisation's name; when not found, alt's value or no field
	opOrganisations            // the memberships, each by the membership layout
	opRoles                    // the roles, each by the role layout
	opRaw                      // the column's value as the row has it (identifier)
	opOrgName                  // the name of the organisation the column names
)

// entry is one field of a layout.
type entry struct {
	head string // the key, escaped, with its colon
	key  string
	col  string // the column the value is made from ("" for none: nil)
	kind collection
	op   op
	alt  string // opStateValidated, opRootOrgName: a column of the field's own name ("" for none)
	akin collection
	dup  bool // while compiling: another column has the same field name
}

// layout is a document (or nested object) compiled for one set of columns:
// its fields in key order.
type layout struct {
	entries []entry
	ghosts  []string // columns no field reads (password, overlaid ones): only checked for
	ncols   int
}

// layoutBuilder follows the steps of a Build function on field names
// instead of values.
type layoutBuilder struct {
	fields map[string]entry
	cols   []string
	ok     bool
}

func newLayoutBuilder(r Row, collections map[string]collection) *layoutBuilder {
	b := &layoutBuilder{fields: make(map[string]entry, len(r)+userAddedKeys), ok: true}
	for col := range r {
		b.cols = append(b.cols, col)
		f := FieldName(col)
		_, dup := b.fields[f]
		// which of two columns a field shows depends on map order unless a
		// later step replaces the field: see layout
		b.fields[f] = entry{key: f, col: col, kind: collections[col], op: opCell, dup: dup}
	}
	return b
}

func (b *layoutBuilder) set(key string, e entry) {
	e.key = key
	b.fields[key] = e
}

// cellOf is the column behind key's value when that value is the column's
// cell (or no column: nil); ok is false when an earlier step made it
// something else.
func (b *layoutBuilder) cellOf(key string) (col string, kind collection, ok bool) {
	e, present := b.fields[key]
	if !present {
		return "", notCollection, true
	}
	return e.col, e.kind, e.op == opCell && !e.dup
}

// wrap makes key's value op applied to its current value.
func (b *layoutBuilder) wrap(key string, o op) {
	col, kind, ok := b.cellOf(key)
	if !ok {
		b.ok = false
		return
	}
	b.set(key, entry{col: col, kind: kind, op: o})
}

// derive makes key's value op of the value of from (opStateValidated,
// opRootOrgName), falling back on key's own value.
func (b *layoutBuilder) derive(key, from string, o op) {
	col, kind, ok := b.cellOf(from)
	alt, akin, altOK := b.cellOf(key)
	if !ok || !altOK {
		b.ok = false
		return
	}
	b.set(key, entry{col: col, kind: kind, op: o, alt: alt, akin: akin})
}

func (b *layoutBuilder) layout() *layout {
	if !b.ok {
		return nil
	}
	l := &layout{ncols: len(b.cols)}
	read := map[string]bool{}
	for _, e := range b.fields {
		if e.dup {
			return nil // leave it to Build
		}
		e.head = string(AppendString(nil, e.key)) + ":"
		l.entries = append(l.entries, e)
		read[e.col] = true
	}
	for _, c := range b.cols {
		if !read[c] {
			l.ghosts = append(l.ghosts, c)
		}
	}
	slices.SortFunc(l.entries, func(x, y entry) int { return strings.Compare(x.key, y.key) })
	return l
}

// compileUser is BuildUser's steps as a layout.
func compileUser(r Row) *layout {
	b := newLayoutBuilder(r, userCollections)
	for _, f := range overlayNull {
		b.set(f, entry{op: opNull})
	}
	b.set("emailVerified", entry{op: opTrue})
	b.set("phoneVerified", entry{op: opTrue})
	delete(b.fields, "password")
	b.wrap("profileLocation", opArray)
	b.wrap("profileUserType", opObjectOrEmpty)
	b.wrap("profileUserTypes", opArray)
	if _, present := b.fields["profileDetails"]; present {
		b.wrap("profileDetails", opObjectOrNull)
	}
	if _, present := b.fields["allTncAccepted"]; present {
		b.wrap("allTncAccepted", opTnc)
	}
	b.derive("stateValidated", "flagsValue", opStateValidated)
	b.set("organisations", entry{op: opOrganisations})
	b.derive("rootOrgName", "rootOrgId", opRootOrgName)
	b.set("roles", entry{op: opRoles})
	b.set("identifier", entry{col: rawColumn(r, "id"), op: opRaw})
	return b.layout()
}

// compileMembership is step 6 of BuildUser for one user_organisation row.
func compileMembership(r Row) *layout {
	b := newLayoutBuilder(r, userOrgCollections)
	delete(b.fields, "roles")
	b.set("orgName", entry{col: rawColumn(r, "organisationid"), op: opOrgName})
	return b.layout()
}

// compileRole is step 8 of BuildUser for one user_roles row.
func compileRole(r Row) *layout {
	b := newLayoutBuilder(r, nil)
	b.wrap("scope", opArray)
	delete(b.fields, "userId")
	return b.layout()
}

// rawColumn is col when r has it, else "" (the value is then nil).
func rawColumn(r Row, col string) string {
	if _, ok := r[col]; ok {
		return col
	}
	return ""
}

func (a *Appender) user(b []byte, u User) ([]byte, error) {
	return a.object(b, userSlot, u.Row, &u)
}

// object writes r by the layout of slot; u is the user whose memberships and
// roles the user layout writes.
func (a *Appender) object(b []byte, slot int, r Row, u *User) ([]byte, error) {
	l := a.layouts[slot]
	if l == nil || len(r) != l.ncols {
		return b, &layoutMiss{slot, r}
	}
	for _, g := range l.ghosts {
		if _, ok := r[g]; !ok {
			return b, &layoutMiss{slot, r}
		}
	}
	b = append(b, '{')
	first := true
	for i := range l.entries {
		e := &l.entries[i]
		var v any
		if e.col != "" {
			var ok bool
			if v, ok = r[e.col]; !ok {
				return b, &layoutMiss{slot, r}
			}
		}
		// fields that may be left out decide before their key is written
		switch e.op {
		case opStateValidated:
			if fv := cell(v, e.kind); fv != nil {
				if n, ok := integer(fv); ok {
					b = a.head(b, e, &first)
					b = appendBool(b, n >= 4)
					continue
				}
			}
			if e.alt == "" {
				continue
			}
			b = a.head(b, e, &first)
			var err error
			if b, err = a.cell(b, r[e.alt], e.akin); err != nil {
				return b, err
			}
			continue
		case opRootOrgName:
			if id, ok := cell(v, e.kind).(string); ok && strings.TrimSpace(id) != "" && a.lookups.OrgNames != nil {
				if name, found := a.lookups.OrgNames(id); found {
					b = a.head(b, e, &first)
					var err error
					if b, err = a.e.value(b, name); err != nil {
						return b, err
					}
					continue
				}
			}
			if e.alt == "" {
				continue
			}
			b = a.head(b, e, &first)
			var err error
			if b, err = a.cell(b, r[e.alt], e.akin); err != nil {
				return b, err
			}
			continue
		}
		b = a.head(b, e, &first)
		var err error
		switch e.op {
		case opCell:
			b, err = a.cell(b, v, e.kind)
		case opNull:
			b = append(b, "null"...)
		case opTrue:
			b = append(b, "true"...)
		case opArray:
			b = a.jsonText(b, cell(v, e.kind), '[', "[]")
		case opObjectOrEmpty:
			b = a.jsonText(b, cell(v, e.kind), '{', "{}")
		case opObjectOrNull:
			b = a.jsonText(b, cell(v, e.kind), '{', "null")
		case opTnc:
			b, err = a.tnc(b, cell(v, e.kind))
		case opOrganisations:
			b, err = a.memberships(b, u.Orgs)
		case opRoles:
			b, err = a.roles(b, u.Roles)
		case opRaw:
			b, err = a.e.value(b, v)
		case opOrgName:
			b, err = a.e.value(b, orgName(a.lookups.OrgNames, v))
		}
		if err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func (a *Appender) head(b []byte, e *entry, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	return append(b, e.head...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

// cell writes cell(v, kind) without making the value first.
func (a *Appender) cell(b []byte, v any, kind collection) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		switch kind {
		case listCollection:
			return append(b, "[]"...), nil
		case mapCollection:
			return append(b, "{}"...), nil
		}
		return append(b, "null"...), nil
	case string:
		return AppendString(b, x), nil
	case time.Time:
		b = append(b, '"')
		b = x.UTC().AppendFormat(b, TimeFormat)
		return append(b, '"'), nil
	case []string:
		if x == nil {
			return append(b, "[]"...), nil
		}
		return appendStrings(b, x), nil
	case map[string][]string:
		return a.e.value(b, listMap(x))
	}
	return a.e.value(b, cell(v, kind))
}

// jsonText writes v, JSON text, as the array or object (open) it holds, or
// else instead when v is not a string or not such JSON text: parseArray and
// parseObject's rule.
func (a *Appender) jsonText(b []byte, v any, open byte, instead string) []byte {
	if s, ok := v.(string); ok {
		if out, ok := appendCanonical(b, s, open, &a.e); ok {
			return out
		}
	}
	return append(b, instead...)
}

// tnc writes step 4's allTncAccepted: each value's object, or {}.
func (a *Appender) tnc(b []byte, v any) ([]byte, error) {
	tnc, ok := v.(map[string]string)
	if !ok {
		return a.e.value(b, v)
	}
	b = append(b, '{')
	keys, mark := sortedKeys(&a.e, tnc)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		b = a.jsonText(b, tnc[k], '{', "{}")
	}
	clear(a.e.keys[mark:])
	a.e.keys = a.e.keys[:mark]
	return append(b, '}'), nil
}

// memberships writes step 6: the organisations the user belongs to.
func (a *Appender) memberships(b []byte, rows []Row) ([]byte, error) {
	b = append(b, '[')
	n := 0
	for _, r := range sortedBy(rows, "organisationid") {
		if deleted, ok := r["isdeleted"].(bool); !ok || deleted {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		var err error
		if b, err = a.object(b, orgSlot, r, nil); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// roles writes step 8: the rows of user_roles.
func (a *Appender) roles(b []byte, rows []Row) ([]byte, error) {
	b = append(b, '[')
	for i, r := range sortedBy(rows, "role") {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = a.object(b, roleSlot, r, nil); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}
