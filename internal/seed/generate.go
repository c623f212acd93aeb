// Package seed generates a deterministic synthetic Sunbird data set (users,
// their organisation memberships and roles, organisations and locations) and
// writes it to Cassandra. The same options always give the same rows, so
// tests and benchmarks can compute what a sync must produce.
//
// The data is shaped like a real deployment's, warts included: non-ASCII
// names, blank and malformed JSON-text columns, memberships whose isdeleted is
// null, root organisations that do not exist, and null columns everywhere a
// real row may have them.
package seed

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Options selects the data set.
type Options struct {
	Users int
	Orgs  int
	Seed  uint64
}

// Row is one row: column name → value, nil for null.
type Row map[string]any

// UserRows are the rows of one user across the three user tables.
type UserRows struct {
	User  Row
	Orgs  []Row // user_organisation
	Roles []Row // user_roles
}

// Counts summarises a data set.
type Counts struct {
	Users, Memberships, Roles, Orgs, Locations int
}

var (
	firstNames = []string{
		"Aarav", "Ananya", "Vihaan", "Diya", "Arjun", "Ishita", "Kabir", "Meera", "Rohan", "Saanvi",
		"अनन्या", "राहुल", "प्रिया", "விக்ரம்", "கவிதா", "ಅರ್ಜುನ್", "ಲಕ್ಷ್ಮಿ", "সৌরভ", "ਗੁਰਪ੍ਰੀਤ", "ଅନିତା",
		"José", "Zoë", "Renée", "Łukasz", "Ngozi", "Siobhán", "D'Souza", "Mary-Jane", "Ólafur", "Nguyễn",
	}
	lastNames = []string{
		"Sharma", "Iyer", "Reddy", "Patel", "Khan", "Das", "Nair", "Singh", "Gupta", "Menon",
		"शर्मा", "वर्मा", "சுப்பிரமணியம்", "ಗೌಡ", "মুখার্জি", "O'Brien", "Müller", "García", "Østergaard", "Lê",
	}
	boards    = []string{"CBSE", "ICSE", "State (Karnataka)", "State (Tamil Nadu)", "IGOT-Health"}
	mediums   = []string{"English", "Hindi", "Kannada", "Tamil", "Marathi"}
	grades    = []string{"Class 1", "Class 2", "Class 5", "Class 8", "Class 10", "Class 12"}
	subjects  = []string{"Mathematics", "Science", "English", "Hindi", "Social Science", "Environmental Studies"}
	userTypes = []string{"teacher", "student", "administrator", "parent", "other"}
	subTypes  = []string{"", "hm", "crp", "deo", "schoolHead"}
	roleNames = []string{"PUBLIC", "ORG_ADMIN", "CONTENT_CREATOR", "BOOK_REVIEWER", "COURSE_MENTOR", "REPORT_VIEWER"}
	orgKinds  = []string{"School", "Board", "Department", "Institute", "Academy"}
	places    = []string{"Bengaluru", "Chennai", "Pune", "Lucknow", "Jaipur", "Kochi", "Guwahati", "Bhopal", "Patna", "Ranchi", "ಮೈಸೂರು", "चंडीगढ़"}
)

// epoch anchors all generated dates so the data set never depends on "now".
var epoch = time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)

// userRNG gives user i its own stream, so rows do not depend on the order
// concurrent writers generate them in.
func userRNG(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(i)*2+1))
}

func uuid(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	// version 4, variant 10
	a = a&^(0xf<<12) | 0x4<<12
	b = b&^(0x3<<62) | 0x2<<62
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xffff, b>>48, b&0xffffffffffff)
}

// OrgID is the id of organisation j: Sunbird ids are long digit strings.
func OrgID(seed uint64, j int) string {
	return fmt.Sprintf("01%017d", (seed*7919+uint64(j)*104729+13)%1e17)
}

// MissingOrgID names an organisation that is never written: some users'
// rootorgid and memberships point at it, as after a botched migration.
func MissingOrgID(seed uint64) string { return fmt.Sprintf("0199%015d", seed%1e15) }

func sunbirdDate(t time.Time) string {
	// Sunbird's text dates: 2020-09-28 15:47:15:919+0000
	return t.UTC().Format("2006-01-02 15:04:05") + fmt.Sprintf(":%03d+0000", t.Nanosecond()/1e6)
}

func randTime(r *rand.Rand) time.Time {
	return epoch.Add(time.Duration(r.Int64N(int64(6*365*24*time.Hour/time.Millisecond))) * time.Millisecond)
}

func ciphertext(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// chance reports true with probability p.
func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// Locations returns the location rows: states, their districts and blocks.
func Locations(opts Options) []Row {
	r := rand.New(rand.NewPCG(opts.Seed, 0xdeadbeef))
	var rows []Row
	for s := range 4 {
		sid := uuid(r)
		rows = append(rows, Row{"id": sid, "code": fmt.Sprintf("S%02d", s), "name": pick(r, places) + " State", "parentid": nil, "type": "state"})
		for d := range 5 {
			did := uuid(r)
			rows = append(rows, Row{"id": did, "code": fmt.Sprintf("S%02dD%02d", s, d), "name": pick(r, places) + " District", "parentid": sid, "type": "district"})
			for b := range 3 {
				rows = append(rows, Row{"id": uuid(r), "code": fmt.Sprintf("S%02dD%02dB%02d", s, d, b), "name": pick(r, places) + " Block", "parentid": did, "type": "block"})
			}
		}
	}
	return rows
}

// Organisations returns the organisation rows. The first fifth are root
// organisations (tenants); the others hang under one of them.
func Organisations(opts Options, locs []Row) []Row {
	r := rand.New(rand.NewPCG(opts.Seed, 0xc0ffee))
	roots := max(1, opts.Orgs/5)
	rows := make([]Row, opts.Orgs)
	for j := range opts.Orgs {
		id := OrgID(opts.Seed, j)
		isRoot := j < roots
		root := id
		if !isRoot {
			root = OrgID(opts.Seed, r.IntN(roots))
		}
		name := fmt.Sprintf("%s %s %d", pick(r, places), pick(r, orgKinds), j)
		var orgname any = name
		if j%37 == 36 {
			orgname = nil // an organisation without a name
		}
		loc := pick(r, locs)
		created := randTime(r)
		var orgloc any = fmt.Sprintf(`[{"id":%q,"type":%q}]`, loc["id"], loc["type"])
		switch j % 11 {
		case 5:
			orgloc = ""
		case 7:
			orgloc = `[{"id":`
		case 9:
			orgloc = nil
		}
		channel := fmt.Sprintf("channel_%d", r.IntN(roots))
		if isRoot {
			channel = fmt.Sprintf("channel_%d", j)
		}
		rows[j] = Row{
			"id": id, "channel": channel, "contactdetail": `[{"phone":"080-1234567"}]`,
			"createdby": uuid(r), "createddate": sunbirdDate(created), "description": "Synthetic organisation " + name,
			"email": nil, "externalid": fmt.Sprintf("ext-%06d", j), "hashtagid": id, "homeurl": nil, "imgurl": nil,
			"isrootorg": isRoot, "isssoenabled": chance(r, 0.3), "istenant": isRoot,
			"keys":                map[string][]string{"signKeys": {fmt.Sprintf("%d", r.IntN(10))}, "encKeys": {fmt.Sprintf("%d", r.IntN(10))}},
			"locationids":         []string{loc["id"].(string)},
			"organisationsubtype": orgSubType(r), "organisationtype": orgType(isRoot, r), "orglocation": orgloc, "orgname": orgname,
			"provider": nil, "rootorgid": root, "slug": fmt.Sprintf("org-%d", j), "status": 1,
			"updatedby": nil, "updateddate": nil,
		}
		if chance(r, 0.5) {
			rows[j]["updatedby"] = uuid(r)
			rows[j]["updateddate"] = sunbirdDate(created.Add(time.Duration(r.IntN(1000)) * time.Hour))
		}
	}
	return rows
}

// OrgTypeConfig is the orgTypeConfig system setting the seed writes:
// Sunbird's default organisation types.
const OrgTypeConfig = `{"fields":[{"name":"School","value":2,"displayName":"School","flagNameList":["isSchool"]},` +
	`{"name":"Board","value":5,"displayName":"Board","flagNameList":["isBoard"]}]}`

// OrgTypeSetting is the system_settings row that holds OrgTypeConfig.
func OrgTypeSetting() Row {
	return Row{"id": "orgTypeConfig", "field": "orgTypeConfig", "value": OrgTypeConfig}
}

// orgType: tenants are boards (5); the others mostly schools (2), some of
// no configured type (1), some 7, which holds the bits of both types.
func orgType(isRoot bool, r *rand.Rand) int {
	x := r.IntN(10)
	switch {
	case isRoot:
		return 5
	case x < 7:
		return 2
	case x < 9:
		return 1
	}
	return 7
}

// orgSubType: mostly none; some schools are also boards and the other way
// round.
func orgSubType(r *rand.Rand) any {
	switch r.IntN(10) {
	case 0:
		return 5
	case 1:
		return 2
	}
	return nil
}

// User returns the rows of user i (0 ≤ i < opts.Users). locs must be Locations(opts).
func User(opts Options, locs []Row, i int) UserRows {
	r := userRNG(opts.Seed, i)
	id := uuid(r)
	roots := max(1, opts.Orgs/5)
	first := pick(r, firstNames)
	var last any = pick(r, lastNames)
	if chance(r, 0.1) {
		last = nil
	}
	created := randTime(r)
	ut := pick(r, userTypes)
	st := pick(r, subTypes)

	var rootOrg any
	switch x := r.Float64(); {
	case x < 0.05:
		rootOrg = nil
	case x < 0.08:
		rootOrg = MissingOrgID(opts.Seed)
	default:
		rootOrg = OrgID(opts.Seed, r.IntN(roots))
	}
	channel := any(nil)
	if rootOrg != nil {
		channel = fmt.Sprintf("channel_%d", r.IntN(roots))
	}

	state := locs[r.IntN(4)*(1+5*(1+3))]
	district := locs[indexOfChild(locs, state["id"].(string), r)]
	profileLoc := any(fmt.Sprintf(`[{"id":%q,"type":"state"},{"id":%q,"type":"district"}]`, state["id"], district["id"]))
	switch x := r.Float64(); {
	case x < 0.10:
		profileLoc = ""
	case x < 0.15:
		profileLoc = `[{"id":"` + state["id"].(string)
	case x < 0.25:
		profileLoc = nil
	}
	put := any(fmt.Sprintf(`{"type":%q,"subType":%q}`, ut, st))
	puts := any(fmt.Sprintf(`[{"type":%q,"subType":%q}]`, ut, st))
	switch x := r.Float64(); {
	case x < 0.08:
		put, puts = "", ""
	case x < 0.12:
		put, puts = `{"type":`, `[{"type"`
	case x < 0.2:
		put, puts = nil, nil
	}
	var details any
	switch x := r.Float64(); {
	case x < 0.5:
		details = nil
	case x < 0.6:
		details = ""
	case x < 0.65:
		details = `{"personalDetails":{`
	default:
		details = fmt.Sprintf(`{"personalDetails":{"gender":%q,"languages":["English",%q]},"employmentDetails":{"yearsOfService":%d}}`,
			pick(r, []string{"female", "male", "other"}), pick(r, mediums), r.IntN(35))
	}
	var tnc any
	if chance(r, 0.6) {
		m := map[string]string{"groupsTnc": fmt.Sprintf(`{"tncAcceptedOn":%q,"version":"3.9.0"}`, sunbirdDate(created.Add(48*time.Hour)))}
		if chance(r, 0.2) {
			m["orgAdminTnc"] = `{"version":"1.0"`
		}
		tnc = m
	}
	var framework any
	if chance(r, 0.7) {
		framework = map[string][]string{
			"id":         {"ncf_framework"},
			"board":      {pick(r, boards)},
			"medium":     {pick(r, mediums), pick(r, mediums)},
			"gradeLevel": {pick(r, grades)},
			"subject":    {pick(r, subjects)},
		}
	}
	var flags any
	if !chance(r, 0.1) {
		flags = r.IntN(7)
	}
	var email, masked, phone, maskedPhone any
	if chance(r, 0.7) {
		email = ciphertext(r, 32)
		masked = fmt.Sprintf("%c%c****@%s", 'a'+rune(r.IntN(26)), 'a'+rune(r.IntN(26)), pick(r, []string{"gmail.com", "yahoo.com", "diksha.gov.in"}))
	}
	if chance(r, 0.6) {
		phone = ciphertext(r, 16)
		maskedPhone = fmt.Sprintf("******%04d", r.IntN(10000))
	}
	var tncOn, tncVer any
	if chance(r, 0.8) {
		tncOn = created.Add(time.Duration(r.IntN(72)) * time.Hour).Truncate(time.Millisecond)
		tncVer = "v13"
	}
	var dob any
	if chance(r, 0.5) {
		dob = fmt.Sprintf("%04d-%02d-%02d", 1960+r.IntN(50), 1+r.IntN(12), 1+r.IntN(28))
	}
	var updatedBy, updatedDate any
	if chance(r, 0.4) {
		updatedBy = id
		updatedDate = sunbirdDate(created.Add(time.Duration(r.IntN(5000)) * time.Hour))
	}
	var managedBy any
	if chance(r, 0.03) {
		managedBy = uuid(r)
	}
	username := fmt.Sprintf("%s_%s", asciiLower(first), id[:4])
	user := Row{
		"id": id, "userid": id, "username": username,
		"firstname": first, "lastname": last,
		"alltncaccepted": tnc, "channel": channel, "countrycode": "+91",
		"createdby": nil, "createddate": sunbirdDate(created), "dob": dob,
		"email": email, "emailverified": email != nil && chance(r, 0.8), "flagsvalue": flags,
		"framework": framework, "isdeleted": chance(r, 0.02),
		"locationids": []string{state["id"].(string), district["id"].(string)},
		"loginid":     username + "@" + fmt.Sprint(channel), "managedby": managedBy,
		"maskedemail": masked, "maskedphone": maskedPhone, "phone": phone, "phoneverified": phone != nil && chance(r, 0.5),
		"prevusedemail": nil, "prevusedphone": nil,
		"profiledetails": details, "profilelocation": profileLoc, "profileusertype": put, "profileusertypes": puts,
		"recoveryemail": nil, "recoveryphone": nil, "roles": []string{"PUBLIC"},
		"rootorgid": rootOrg, "status": 1,
		"tncacceptedon": tncOn, "tncacceptedversion": tncVer,
		"updatedby": updatedBy, "updateddate": updatedDate,
		"usersubtype": st, "usertype": ut,
	}
	if chance(r, 0.05) {
		user["status"] = 0
	}
	if chance(r, 0.1) {
		user["createdby"] = uuid(r)
	}
	if chance(r, 0.05) {
		user["recoveryemail"] = ciphertext(r, 24)
	}

	// 0–5 memberships, the root organisation first when there is one.
	var orgs []Row
	n := r.IntN(6)
	seen := map[string]bool{}
	for k := 0; k < n; k++ {
		var orgID string
		switch {
		case k == 0 && rootOrg != nil:
			orgID = rootOrg.(string)
		case chance(r, 0.03):
			orgID = MissingOrgID(opts.Seed)
		default:
			orgID = OrgID(opts.Seed, r.IntN(max(1, opts.Orgs)))
		}
		if seen[orgID] {
			continue
		}
		seen[orgID] = true
		var isDeleted any = false
		switch x := r.Float64(); {
		case x < 0.10:
			isDeleted = true
		case x < 0.18:
			isDeleted = nil
		}
		joined := created.Add(time.Duration(r.IntN(2000)) * time.Hour)
		m := Row{
			"userid": id, "organisationid": orgID, "addedby": nil, "addedbyname": nil,
			"approvaldate": nil, "approvedby": nil, "associationtype": 1 + r.IntN(2), "hashtagid": orgID,
			"id": uuid(r), "isapproved": nil, "isdeleted": isDeleted, "isrejected": nil,
			"orgjoindate": sunbirdDate(joined), "orgleftdate": nil, "position": nil,
			"roles": []string{"PUBLIC"}, "updatedby": nil, "updateddate": nil,
		}
		if isDeleted == true {
			m["orgleftdate"] = sunbirdDate(joined.Add(240 * time.Hour))
			m["updatedby"] = uuid(r)
			m["updateddate"] = m["orgleftdate"]
		}
		if chance(r, 0.2) {
			m["addedby"] = uuid(r)
			m["addedbyname"] = pick(r, firstNames)
			m["position"] = pick(r, []string{"Teacher", "Head Master", "Coordinator"})
		}
		orgs = append(orgs, m)
	}

	// 1–3 roles; PUBLIC always, scoped to the root organisation.
	var roles []Row
	nr := 1 + r.IntN(3)
	perm := r.Perm(len(roleNames) - 1)
	for k := range nr {
		role := "PUBLIC"
		if k > 0 {
			role = roleNames[1+perm[k-1]]
		}
		scopeOrg := rootOrg
		if scopeOrg == nil {
			scopeOrg = OrgID(opts.Seed, 0)
		}
		scope := any(fmt.Sprintf(`[{"organisationId":%q}]`, scopeOrg))
		switch x := r.Float64(); {
		case x < 0.03:
			scope = ""
		case x < 0.05:
			scope = `[{"organisationId":`
		case x < 0.08:
			scope = nil
		}
		at := created.Add(time.Duration(k) * time.Hour)
		roles = append(roles, Row{
			"userid": id, "role": role, "scope": scope,
			"createddate": sunbirdDate(at), "createdby": nil, "updateddate": nil, "updatedby": nil,
		})
	}
	return UserRows{User: user, Orgs: orgs, Roles: roles}
}

// indexOfChild picks a district of the state.
func indexOfChild(locs []Row, parent string, r *rand.Rand) int {
	var kids []int
	for i, l := range locs {
		if l["parentid"] == parent && l["type"] == "district" {
			kids = append(kids, i)
		}
	}
	return kids[r.IntN(len(kids))]
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "user"
	}
	return b.String()
}
