package sunbird

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Values is one row as the values of its columns, in the order of Cols,
// which the rows of one query share: the form a scan reads rows in, and the
// Appender's input.
type Values struct {
	Cols []string
	Vals []any
}

// Row returns v as a Row.
func (v Values) Row() Row {
	r := make(Row, len(v.Cols))
	for i, c := range v.Cols {
		r[c] = v.Vals[i]
	}
	return r
}

// Appender writes the documents of one kind straight from rows to their
// canonical JSON: exactly the bytes Build(o, l).Encode() gives (the tests
// hold the two equal on every case of the build tests, on thousands of odd
// users and, against real servers, on every synced user), without building
// the document as a map first.
//
// A sync builds one user document per row it reads, and the map (about fifty
// keys, plus one per membership and role), its sorting and its garbage were
// most of indexsync's own CPU per document. The Appender instead compiles,
// once per query's columns, a layout: the document's fields in key order,
// each with its key already escaped and the column its value comes from.
// Writing a document is then one pass over the layout.
//
// BuildUser stays the definition of the document (and what verify compares
// with); the layouts are compiled from the same tables (overlayNull,
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

// SetLookups makes the Appender write its next documents with l: one
// Appender (and the layouts it compiled) serves many batches of objects,
// each with the lookups of its own.
func (a *Appender) SetLookups(l Lookups) { a.lookups = l }

// Append appends the canonical JSON of the document of row and its child
// rows (by Kind.Children) to dst.
func (a *Appender) Append(dst []byte, row Values, children [][]Values) ([]byte, error) {
	if a.kind.Name == UserKind.Name {
		var orgs, roles []Values
		if len(children) == 2 {
			orgs, roles = children[0], children[1]
		}
		if a.fit(userSlot, row.Cols) && a.fitAll(orgSlot, orgs) && a.fitAll(roleSlot, roles) {
			return a.object(dst, a.layouts[userSlot], row, orgs, roles)
		}
		a.viaBuild++
	}
	o := Object{Row: row.Row(), Children: make([][]Row, len(children))}
	for i, rs := range children {
		for _, r := range rs {
			o.Children[i] = append(o.Children[i], r.Row())
		}
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

var compilers = [layoutSlots]func([]string) *layout{compileUser, compileMembership, compileRole}

// fit makes the layout of slot the one of cols, compiling it when cols are
// not those of the last rows; false when cols cannot have a layout.
func (a *Appender) fit(slot int, cols []string) bool {
	if l := a.layouts[slot]; l != nil && sameColumns(l.cols, cols) {
		l.cols = cols // the next rows of this query share it: compared by address
		return true
	}
	a.layouts[slot] = compilers[slot](cols)
	return a.layouts[slot] != nil
}

// fitAll is fit for child rows, which must all have the same columns (the
// rows of one query do).
func (a *Appender) fitAll(slot int, rows []Values) bool {
	if len(rows) == 0 {
		return true
	}
	if !a.fit(slot, rows[0].Cols) {
		return false
	}
	for _, r := range rows[1:] {
		if !sameColumns(a.layouts[slot].cols, r.Cols) {
			return false
		}
	}
	return true
}

func sameColumns(x, y []string) bool {
	return len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0] || slices.Equal(x, y))
}

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
	col  int // the column the value is made from (-1 for none: nil)
	kind collection
	op   op
	alt  int // opStateValidated, opRootOrgName: a column of the field's own name (-1 for none)
	akin collection
	dup  bool // while compiling: another column has the same field name
}

// layout is a document (or nested object) compiled for one query's columns:
// its fields in key order.
type layout struct {
	cols    []string
	entries []entry
	sortBy  int // memberships and roles: the column they are ordered by (-1: none)
	// memberships: only rows whose isdeleted column (-1: none) is false
	// are written
	memberships bool
	deleted     int
}

// layoutBuilder follows the steps of a Build function on field names
// instead of values.
type layoutBuilder struct {
	fields map[string]entry
	cols   []string
	ok     bool
}

func newLayoutBuilder(cols []string, collections map[string]collection) *layoutBuilder {
	b := &layoutBuilder{fields: make(map[string]entry, len(cols)+userAddedKeys), cols: cols, ok: true}
	for i, col := range cols {
		f := FieldName(col)
		_, dup := b.fields[f]
		// which of two columns a field shows depends on map order in Build
		// unless a later step replaces the field: see layout
		b.fields[f] = entry{key: f, col: i, kind: collections[col], op: opCell, dup: dup}
	}
	return b
}

// column is the index of col, or -1.
func (b *layoutBuilder) column(col string) int { return slices.Index(b.cols, col) }

func (b *layoutBuilder) set(key string, e entry) {
	e.key = key
	b.fields[key] = e
}

// fixed is an entry of op that reads no column.
func fixed(o op) entry { return entry{col: -1, alt: -1, op: o} }

// cellOf is the column behind key's value when that value is the column's
// cell (or no column: nil); ok is false when an earlier step made it
// something else.
func (b *layoutBuilder) cellOf(key string) (col int, kind collection, ok bool) {
	e, present := b.fields[key]
	if !present {
		return -1, notCollection, true
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
	b.set(key, entry{col: col, kind: kind, op: o, alt: -1})
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
	l := &layout{cols: b.cols, sortBy: -1, deleted: -1}
	for _, e := range b.fields {
		if e.dup {
			return nil // leave it to Build
		}
		if e.op == opCell {
			e.alt = -1
		}
		e.head = string(AppendString(nil, e.key)) + ":"
		l.entries = append(l.entries, e)
	}
	slices.SortFunc(l.entries, func(x, y entry) int { return strings.Compare(x.key, y.key) })
	return l
}

// compileUser is BuildUser's steps as a layout.
func compileUser(cols []string) *layout {
	b := newLayoutBuilder(cols, userCollections)
	for _, f := range overlayNull {
		b.set(f, fixed(opNull))
	}
	b.set("emailVerified", fixed(opTrue))
	b.set("phoneVerified", fixed(opTrue))
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
	b.set("organisations", fixed(opOrganisations))
	b.derive("rootOrgName", "rootOrgId", opRootOrgName)
	b.set("roles", fixed(opRoles))
	b.set("identifier", entry{col: b.column("id"), alt: -1, op: opRaw})
	return b.layout()
}

// compileMembership is step 6 of BuildUser for one user_organisation row.
func compileMembership(cols []string) *layout {
	b := newLayoutBuilder(cols, userOrgCollections)
	delete(b.fields, "roles")
	b.set("orgName", entry{col: b.column("organisationid"), alt: -1, op: opOrgName})
	l := b.layout()
	if l != nil {
		l.memberships, l.sortBy, l.deleted = true, b.column("organisationid"), b.column("isdeleted")
	}
	return l
}

// compileRole is step 8 of BuildUser for one user_roles row.
func compileRole(cols []string) *layout {
	b := newLayoutBuilder(cols, nil)
	b.wrap("scope", opArray)
	delete(b.fields, "userId")
	l := b.layout()
	if l != nil {
		l.sortBy = b.column("role")
	}
	return l
}

// object writes r by the layout l; orgs and roles are the user's
// memberships and roles, which only the user layout writes, by the layouts
// fit has made.
func (a *Appender) object(b []byte, l *layout, r Values, orgs, roles []Values) ([]byte, error) {
	b = append(b, '{')
	first := true
	for i := range l.entries {
		e := &l.entries[i]
		var v any
		if e.col >= 0 {
			v = r.Vals[e.col]
		}
		// fields that may be left out decide before their key is written:
		// the derived value, else the column of the field's own name, else
		// no field
		if e.op == opStateValidated || e.op == opRootOrgName {
			d, ok := a.derived(e, v)
			if !ok && e.alt < 0 {
				continue
			}
			b = a.head(b, e, &first)
			var err error
			if ok {
				b, err = a.e.value(b, d)
			} else {
				b, err = a.cell(b, r.Vals[e.alt], e.akin)
			}
			if err != nil {
				return b, fmt.Errorf("field %q: %w", e.key, err)
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
			b, err = a.children(b, a.layouts[orgSlot], orgs)
		case opRoles:
			b, err = a.children(b, a.layouts[roleSlot], roles)
		case opRaw:
			b, err = a.e.value(b, v)
		case opOrgName:
			b, err = a.e.value(b, orgName(a.lookups.OrgNames, v))
		}
		if err != nil {
			return b, fmt.Errorf("field %q: %w", e.key, err)
		}
	}
	return append(b, '}'), nil
}

// derived is the value of an opStateValidated or opRootOrgName field made
// from v, its source column's value (BuildUser's steps 5 and 7); false when
// that step sets nothing.
func (a *Appender) derived(e *entry, v any) (any, bool) {
	switch e.op {
	case opStateValidated:
		if fv := cell(v, e.kind); fv != nil {
			if n, ok := integer(fv); ok {
				return n >= 4, true
			}
		}
	case opRootOrgName:
		if id, ok := cell(v, e.kind).(string); ok && strings.TrimSpace(id) != "" && a.lookups.OrgNames != nil {
			return a.lookups.OrgNames(id)
		}
	}
	return nil, false
}

func (a *Appender) head(b []byte, e *entry, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	return append(b, e.head...)
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

// children writes step 6 (the organisations the user belongs to) or 8 (the
// user's roles): the rows in the order of the layout's sortBy column,
// leaving out deleted memberships.
func (a *Appender) children(b []byte, l *layout, rows []Values) ([]byte, error) {
	b = append(b, '[')
	n := 0
	for _, r := range sortedValues(rows, l) {
		if l.memberships {
			if deleted, ok := column(r, l.deleted).(bool); !ok || deleted {
				continue
			}
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		var err error
		if b, err = a.object(b, l, r, nil, nil); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// column is r's value of column i (-1: nil).
func column(r Values, i int) any {
	if i < 0 {
		return nil
	}
	return r.Vals[i]
}

// sortedValues is sortedBy for Values: rows ordered by the string in the
// layout's sortBy column.
func sortedValues(rows []Values, l *layout) []Values {
	return sortedByString(rows, func(r Values) any { return column(r, l.sortBy) })
}
