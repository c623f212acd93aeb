package sunbird

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Row is one Cassandra row: lower-case column name to Go value, nil for null.
// Values are of the types the gocql driver produces: string (text), int (int),
// int64 (bigint), bool, float64 (double), time.Time (timestamp), []string
// (list<text>, set<text>), map[string]string (map<text,text>) and
// map[string][]string (map<text,frozen<list<text>>>). Other types are written
// as encoding/json would write them.
type Row map[string]any

// User holds the rows one user document is built from.
type User struct {
	Row   Row   // the user row
	Orgs  []Row // its user_organisation rows, deleted ones included
	Roles []Row // its user_roles rows
}

// OrgNames looks up organisation.orgname by organisation id. found is false
// when there is no such organisation; name is nil when it exists with a null
// orgname. A nil OrgNames finds nothing.
type OrgNames func(id string) (name any, found bool)

// Document is a search document, ready for Encode.
type Document map[string]any

// TimeFormat is how timestamps appear in documents, always in UTC.
const TimeFormat = "2006-01-02T15:04:05.000Z"

type collection uint8

const (
	notCollection collection = iota
	listCollection
	mapCollection
)

// The collection columns of docs/sunbird.md (tables), per table. A nil value has no type,
// so these lists are how a null collection becomes [] or {}.
var (
	userCollections = map[string]collection{
		"alltncaccepted": mapCollection,
		"framework":      mapCollection,
		"locationids":    listCollection,
		"roles":          listCollection,
	}
	userOrgCollections = map[string]collection{
		"roles": listCollection,
	}
	orgCollections = map[string]collection{
		"keys":        mapCollection,
		"locationids": listCollection,
	}
)

// overlayNull are the user fields Sunbird always writes as null (docs/sunbird.md,
// the user document; userorg-service Util.getUserDefaultValue).
var overlayNull = [...]string{
	"avatar", "gender", "language", "lastLoginTime", "location",
	"profileSummary", "profileVisibility", "tempPassword", "thumbnail",
	"registryId", "accesscode", "webPages", "currentLoginTime", "loginId",
}

// userAddedKeys is about how many keys BuildUser adds beyond the row's
// columns (overlay fields the row lacks, organisations, roles, ...).
const userAddedKeys = len(overlayNull) + 8

// BuildUser builds the user document as docs/sunbird.md (the user document) describes it.
func BuildUser(u User, orgNames OrgNames) Document {
	doc := make(Document, len(u.Row)+userAddedKeys)
	copyRow(doc, u.Row, userCollections)

	// Step 3: the fixed overlay.
	for _, f := range overlayNull {
		doc[f] = nil
	}
	doc["emailVerified"] = true
	doc["phoneVerified"] = true
	delete(doc, "password")

	// Step 4: JSON text.
	doc["profileLocation"] = parseArray(doc["profileLocation"])
	if m, ok := parseObject(doc["profileUserType"]); ok {
		doc["profileUserType"] = m
	} else {
		doc["profileUserType"] = map[string]any{}
	}
	doc["profileUserTypes"] = parseArray(doc["profileUserTypes"])
	if v, present := doc["profileDetails"]; present {
		if m, ok := parseObject(v); ok {
			doc["profileDetails"] = m
		} else {
			doc["profileDetails"] = nil
		}
	}
	if tnc, ok := doc["allTncAccepted"].(map[string]string); ok {
		parsed := make(map[string]any, len(tnc))
		for k, s := range tnc {
			if m, ok := parseObject(s); ok {
				parsed[k] = m
			} else {
				parsed[k] = map[string]any{}
			}
		}
		doc["allTncAccepted"] = parsed
	}

	// Step 5.
	if fv := doc["flagsValue"]; fv != nil {
		if n, ok := integer(fv); ok {
			doc["stateValidated"] = n >= 4
		}
	}

	// Step 6: organisations the user belongs to.
	orgRows := sortedBy(u.Orgs, "organisationid")
	orgs := make([]any, 0, len(orgRows))
	for _, r := range orgRows {
		if deleted, ok := r["isdeleted"].(bool); !ok || deleted {
			continue
		}
		o := make(map[string]any, len(r)+1)
		copyRow(o, r, userOrgCollections)
		delete(o, "roles")
		o["orgName"] = orgName(orgNames, r["organisationid"])
		orgs = append(orgs, o)
	}
	doc["organisations"] = orgs

	// Step 7.
	if id, ok := doc["rootOrgId"].(string); ok && strings.TrimSpace(id) != "" && orgNames != nil {
		if name, found := orgNames(id); found {
			doc["rootOrgName"] = name
		}
	}

	// Step 8: roles from user_roles replace the legacy user.roles column.
	roleRows := sortedBy(u.Roles, "role")
	roles := make([]any, 0, len(roleRows))
	for _, r := range roleRows {
		m := make(map[string]any, len(r)+1)
		copyRow(m, r, nil)
		m["scope"] = parseArray(m["scope"])
		delete(m, "userId")
		roles = append(roles, m)
	}
	doc["roles"] = roles

	// Step 9.
	doc["identifier"] = u.Row["id"]
	return doc
}

// orgOverlayNull are the organisation fields Sunbird always writes as null
// (userorg-service Util.getOrgDefaultValue; docs/sunbird.md).
var orgOverlayNull = [...]string{
	"dateTime", "preferredLanguage", "approvedBy", "addressId", "approvedDate",
	"communityId", "isApproved", "locationId", "noOfMembers", "orgCode",
	"theme", "thumbnail", "isDefault", "parentOrgId", "orgTypeId", "orgType",
}

// BuildOrganisation builds an organisation document: the row under
// Sunbird's field names, orgLocation parsed, hashTagId and identifier set to
// the id, contactDetail removed, Sunbird's null defaults, and the type flags
// (isSchool, isBoard, …) of types from organisationType and
// organisationSubType, as OrgTypeValidator.updateOrganisationTypeFlags sets
// them.
func BuildOrganisation(r Row, types OrgTypes) Document {
	doc := make(Document, len(r)+len(orgOverlayNull)+4)
	copyRow(doc, r, orgCollections)
	doc["orgLocation"] = parseArray(doc["orgLocation"])
	doc["hashTagId"] = r["id"]
	delete(doc, "contactDetail")
	doc["identifier"] = r["id"]
	for _, f := range orgOverlayNull {
		doc[f] = nil
	}
	if v := doc["organisationType"]; v != nil {
		types.flags(doc, v)
	}
	if v := doc["organisationSubType"]; v != nil {
		types.flags(doc, v)
	}
	return doc
}

// BuildLocation builds a location document (docs/sunbird.md, the documents).
func BuildLocation(r Row) Document {
	doc := make(Document, len(r)+1)
	copyRow(doc, r, nil)
	doc["identifier"] = r["id"]
	return doc
}

// copyRow puts every column of r into dst under its field name, with
// timestamps formatted and null collections made empty.
func copyRow(dst map[string]any, r Row, collections map[string]collection) {
	for col, v := range r {
		dst[FieldName(col)] = cell(v, collections[col])
	}
}

func cell(v any, kind collection) any {
	switch x := v.(type) {
	case nil:
		switch kind {
		case listCollection:
			return []string{}
		case mapCollection:
			return map[string]string{}
		}
		return nil
	case string:
		return x
	case time.Time:
		return x.UTC().Format(TimeFormat)
	case []string:
		if x == nil {
			return []string{}
		}
	case map[string]string:
		if x == nil {
			return map[string]string{}
		}
	case map[string][]string:
		return listMap(x)
	}
	return v
}

// listMap returns m with nil lists made empty, copying m only when needed.
func listMap(m map[string][]string) map[string][]string {
	if m == nil {
		return map[string][]string{}
	}
	for _, l := range m {
		if l != nil {
			continue
		}
		c := make(map[string][]string, len(m))
		for k, l := range m {
			if l == nil {
				l = []string{}
			}
			c[k] = l
		}
		return c
	}
	return m
}

// parseArray parses JSON text that should hold an array; anything else,
// including null and non-strings, gives an empty array.
func parseArray(v any) []any {
	if s, ok := v.(string); ok {
		if x, ok := parseJSON(s); ok {
			if a, ok := x.([]any); ok {
				return a
			}
		}
	}
	return []any{}
}

// parseObject parses JSON text that should hold an object.
func parseObject(v any) (map[string]any, bool) {
	s, ok := v.(string)
	if !ok {
		return nil, false
	}
	x, ok := parseJSON(s)
	if !ok {
		return nil, false
	}
	m, ok := x.(map[string]any)
	return m, ok && m != nil
}

// integer reads flagsValue the way Sunbird's Integer.parseInt(v.toString())
// would accept it.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case string:
		n, err := strconv.ParseInt(x, 10, 32)
		return n, err == nil
	}
	return 0, false
}

func orgName(orgNames OrgNames, id any) any {
	s, ok := id.(string)
	if !ok || orgNames == nil {
		return nil
	}
	name, found := orgNames(s)
	if !found {
		return nil
	}
	return name
}

// sortedBy returns rows ordered by the string in column key (Cassandra's
// clustering order), copying only when they are not in order already.
func sortedBy(rows []Row, key string) []Row {
	return sortedByString(rows, func(r Row) any { return r[key] })
}

// sortedByString orders rows by the string of each (non-strings sort as
// ""), stably, copying only when they are not in order already.
func sortedByString[R any](rows []R, of func(R) any) []R {
	if len(rows) < 2 {
		return rows
	}
	cmp := func(a, b R) int {
		as, _ := of(a).(string)
		bs, _ := of(b).(string)
		return strings.Compare(as, bs)
	}
	if slices.IsSortedFunc(rows, cmp) {
		return rows
	}
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, cmp)
	return rows
}
