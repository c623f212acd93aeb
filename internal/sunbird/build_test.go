package sunbird

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// orgs is the organisation table the user cases look names up in.
var orgs = map[string]any{
	"org-root":   "Tamil Nadu",
	"org-school": "GHS Chennai",
	"org-noname": nil, // exists, orgname null
}

func lookupOrgs(id string) (any, bool) {
	name, ok := orgs[id]
	return name, ok
}

var (
	acceptedOn = time.Date(2021, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	ist        = time.FixedZone("IST", 5*3600+1800)
)

// fullUserRow has every user column of docs/sunbird.md (tables) with a value.
func fullUserRow() Row {
	return Row{
		"id":                 "u-1001",
		"alltncaccepted":     map[string]string{"groupsTnc": `{"tncAcceptedOn":"2021-03-04 05:06:07:891+0000","version":"3.9.0"}`},
		"channel":            "tn",
		"countrycode":        "+91",
		"createdby":          "creator-1",
		"createddate":        "2020-09-28 15:47:15:919+0000",
		"dob":                "1990-01-01",
		"email":              "ENC(aGVsbG8=)",
		"emailverified":      false,
		"firstname":          "Priya",
		"flagsvalue":         6,
		"framework":          map[string][]string{"board": {"CBSE"}, "gradeLevel": {"Class 1", "Class 2"}, "id": {"tn_k-12"}},
		"isdeleted":          false,
		"lastname":           "Raman",
		"locationids":        []string{"loc-state", "loc-district"},
		"loginid":            "priya@tn",
		"managedby":          "manager-7",
		"maskedemail":        "pr***@gmail.com",
		"maskedphone":        "******7890",
		"phone":              "ENC(d29ybGQ=)",
		"phoneverified":      false,
		"prevusedemail":      "old@example.com",
		"prevusedphone":      "9000000000",
		"profiledetails":     `{"personalDetails":{"mobile":9876543210,"verified":true}}`,
		"profilelocation":    `[{"id":"loc-state","type":"state"},{"id":"loc-district","type":"district"}]`,
		"profileusertype":    `{"subType":"hm","type":"teacher"}`,
		"profileusertypes":   `[{"subType":"hm","type":"teacher"},{"type":"parent"}]`,
		"recoveryemail":      "rec@example.com",
		"recoveryphone":      "9111111111",
		"roles":              []string{"PUBLIC", "ORG_ADMIN"},
		"rootorgid":          "org-root",
		"status":             1,
		"tncacceptedon":      acceptedOn,
		"tncacceptedversion": "3.9.0",
		"updatedby":          "updater-1",
		"updateddate":        "2021-03-04 05:06:07:891+0000",
		"userid":             "u-1001",
		"username":           "priya_r1a2",
		"usersubtype":        "hm",
		"usertype":           "teacher",
	}
}

// nullUserRow has every user column of docs/sunbird.md (tables) null except id.
func nullUserRow() Row {
	r := fullUserRow()
	for k := range r {
		r[k] = nil
	}
	r["id"] = "u-null"
	return r
}

func userOrgRow(orgID string, deleted any) Row {
	return Row{
		"userid":          "u-1001",
		"organisationid":  orgID,
		"addedby":         "creator-1",
		"addedbyname":     nil,
		"approvaldate":    nil,
		"approvedby":      nil,
		"associationtype": 2,
		"hashtagid":       orgID,
		"id":              "uo-" + orgID,
		"isapproved":      false,
		"isdeleted":       deleted,
		"isrejected":      false,
		"orgjoindate":     "2020-09-28 15:47:15:919+0000",
		"orgleftdate":     nil,
		"position":        "teacher",
		"roles":           []string{"PUBLIC"},
		"updatedby":       nil,
		"updateddate":     nil,
	}
}

func userRoleRow(role string, scope any) Row {
	return Row{
		"userid":      "u-1001",
		"role":        role,
		"scope":       scope,
		"createdby":   "creator-1",
		"createddate": "2020-09-28 15:47:15:919+0000",
		"updatedby":   nil,
		"updateddate": nil,
	}
}

// with returns a copy of r with the given columns set.
func with(r Row, kv ...any) Row {
	c := make(Row, len(r)+len(kv)/2)
	for k, v := range r {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

func minimal(kv ...any) Row { return with(Row{"id": "u-min"}, kv...) }

// userCase is one user of the build tests: rows and the golden file's name.
type userCase struct {
	name string
	user User
}

// userCases are the users TestBuildUser holds against golden files (and
// TestAppenderWritesWhatBuildDoes against BuildUser).
func userCases() []userCase {
	return []userCase{
		{"full", User{
			Row:   fullUserRow(),
			Orgs:  []Row{userOrgRow("org-root", false), userOrgRow("org-school", false)},
			Roles: []Row{userRoleRow("ORG_ADMIN", `[{"organisationId":"org-root"}]`), userRoleRow("PUBLIC", `[{"organisationId":"org-root"}]`)},
		}},
		{"minimal", User{Row: minimal()}},
		{"all_null", User{Row: nullUserRow()}},
		{"overlay", User{Row: minimal(
			"avatar", "https://cdn/avatar.png",
			"gender", "F",
			"language", []string{"ta", "en"},
			"location", "Chennai",
			"loginid", "priya@tn",
			"password", "$2a$10$hash",
			"emailverified", false,
			"phoneverified", false,
			"thumbnail", "thumb.png",
			"accesscode", "1234",
			"temppassword", "tmp-secret",
			"lastlogintime", "2021-01-01 00:00:00:000+0000",
			"currentlogintime", "2021-01-02 00:00:00:000+0000",
			"profilesummary", "About me",
			"profilevisibility", map[string]string{"dob": "private"},
			"registryid", "reg-1",
			"webpages", []string{"https://example.com"},
		)}},
		{"overlay_verified_null", User{Row: minimal("emailverified", nil, "phoneverified", nil)}},
		{"json_valid", User{Row: minimal(
			"profilelocation", `[{"id":"loc-state","type":"state"}]`,
			"profileusertype", ` {"type":"teacher"} `,
			"profileusertypes", `[{"type":"teacher"},{"type":"parent","subType":"guardian"}]`,
			"profiledetails", `{"big":12345678901234567890123,"decimal":1.50,"nested":{"list":[1,"two",null,true]}}`,
			"alltncaccepted", map[string]string{
				"groupsTnc":   `{"tncAcceptedOn":"2021-03-04 05:06:07:891+0000","version":"3.9.0"}`,
				"orgAdminTnc": `{"version":"v1","extra":{"n":9007199254740993}}`,
			},
		)}},
		{"json_blank", User{Row: minimal(
			"profilelocation", "",
			"profileusertype", "   ",
			"profileusertypes", "",
			"profiledetails", "\t\n",
			"alltncaccepted", map[string]string{"groupsTnc": ""},
		)}},
		{"json_invalid", User{Row: minimal(
			"profilelocation", `[{"id":"loc-state",`,
			"profileusertype", `{type: teacher}`,
			"profileusertypes", `[{"type":"teacher"}] trailing`,
			"profiledetails", `not json`,
			"alltncaccepted", map[string]string{"groupsTnc": `{"version":`, "orgAdminTnc": `{"version":"v1"}`},
		)}},
		{"json_wrong_shape", User{Row: minimal(
			"profilelocation", `{"id":"loc-state"}`,
			"profileusertype", `[{"type":"teacher"}]`,
			"profileusertypes", `{"type":"teacher"}`,
			"profiledetails", `[1,2]`,
			"alltncaccepted", map[string]string{"groupsTnc": `"3.9.0"`, "orgAdminTnc": `[]`},
		)}},
		{"json_null_literal", User{Row: minimal(
			"profilelocation", `null`,
			"profileusertype", `null`,
			"profileusertypes", `null`,
			"profiledetails", `null`,
			"alltncaccepted", map[string]string{"groupsTnc": `null`},
		)}},
		{"json_null_columns", User{Row: minimal(
			"profilelocation", nil,
			"profileusertype", nil,
			"profileusertypes", nil,
			"profiledetails", nil,
			"alltncaccepted", nil,
		)}},
		{"flags_null", User{Row: minimal("flagsvalue", nil)}},
		{"flags_0", User{Row: minimal("flagsvalue", 0)}},
		{"flags_3", User{Row: minimal("flagsvalue", 3)}},
		{"flags_4", User{Row: minimal("flagsvalue", 4)}},
		{"flags_6", User{Row: minimal("flagsvalue", 6)}},
		{"organisations", User{
			Row: minimal(),
			// Out of clustering order on purpose: the document sorts them.
			Orgs: []Row{
				userOrgRow("org-school", false),
				userOrgRow("org-deleted", true),
				userOrgRow("org-noname", false),
				userOrgRow("org-nulldeleted", nil),
				userOrgRow("org-missing", false),
			},
		}},
		{"root_org_exists", User{Row: minimal("rootorgid", "org-root")}},
		{"root_org_null_name", User{Row: minimal("rootorgid", "org-noname")}},
		{"root_org_missing", User{Row: minimal("rootorgid", "org-gone")}},
		{"root_org_null_id", User{Row: minimal("rootorgid", nil)}},
		{"root_org_blank_id", User{Row: minimal("rootorgid", " ")}},
		{"roles", User{
			Row: minimal("roles", []string{"PUBLIC", "LEGACY_ROLE"}),
			Roles: []Row{
				userRoleRow("PUBLIC", ""),
				userRoleRow("ORG_ADMIN", `[{"organisationId":"org-root"},{"organisationId":"org-school"}]`),
				userRoleRow("BOOK_CREATOR", `[{"organisationId":`),
				userRoleRow("CONTENT_REVIEWER", nil),
				userRoleRow("REPORT_VIEWER", `{"organisationId":"org-root"}`),
			},
		}},
		{"timestamp", User{Row: minimal(
			"tncacceptedon", time.Date(2021, 3, 4, 10, 36, 7, 891_999_999, ist),
			"lastsyncedat", time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		)}},
		{"non_ascii", User{Row: minimal(
			"firstname", "प्रिया",
			"lastname", "ராமன்",
			"username", "ünïcødé_😀",
			"usersubtype", "<b>Tom & Jerry</b>",
			"usertype", "line\u2028sep \"quoted\" back\\slash\ttab\x01ctl",
		)}},
		{"extra_columns", User{Row: minimal(
			"nickname", "pri",
			"score", 42,
			"bigcount", int64(9007199254740993),
			"optin", true,
			"ratio", 0.25,
			"legacyfield", nil,
			"tags", []string{"a", "b"},
			"prefs", map[string]string{"theme": "dark"},
			"emptytags", []string(nil),
			"emptyprefs", map[string]string(nil),
			"lastupdatedby", "someone", // on Sunbird's rename list, not in docs/sunbird.md
		)}},
		{"collections", User{Row: minimal(
			"framework", map[string][]string{"board": nil, "medium": {"English"}},
			"locationids", []string(nil),
			"alltncaccepted", map[string]string{},
		)}},
	}
}

func TestBuildUser(t *testing.T) {
	for _, tt := range userCases() {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, "user_"+tt.name, BuildUser(tt.user, lookupOrgs))
		})
	}
}

// fullOrgRow has every organisation column of docs/sunbird.md (tables) with a value.
func fullOrgRow() Row {
	return Row{
		"id":                  "org-root",
		"channel":             "tn",
		"contactdetail":       `[{"phone":"044-1234"}]`,
		"createdby":           "creator-1",
		"createddate":         "2020-09-28 15:47:15:919+0000",
		"description":         "State of Tamil Nadu",
		"email":               "admin@tn.gov.in",
		"externalid":          "tn-ext",
		"hashtagid":           "org-root",
		"homeurl":             "https://tn.gov.in",
		"imgurl":              "https://tn.gov.in/logo.png",
		"isrootorg":           true,
		"isssoenabled":        false,
		"istenant":            true,
		"keys":                map[string][]string{"signKeys": {"k1", "k2"}, "encKeys": {"e1"}},
		"locationids":         []string{"loc-state"},
		"organisationsubtype": 2,
		"organisationtype":    5,
		"orglocation":         `[{"id":"loc-state","type":"state"}]`,
		"orgname":             "தமிழ்நாடு",
		"provider":            "tn",
		"rootorgid":           "org-root",
		"slug":                "tn",
		"status":              1,
		"updatedby":           "updater-1",
		"updateddate":         "2021-03-04 05:06:07:891+0000",
	}
}

func TestBuildOrganisation(t *testing.T) {
	nulls := fullOrgRow()
	for k := range nulls {
		nulls[k] = nil
	}
	nulls["id"] = "org-null"
	tests := []struct {
		name string
		row  Row
	}{
		{"full", fullOrgRow()},
		{"all_null", nulls},
		{"orglocation_blank", Row{"id": "org-b", "orglocation": " "}},
		{"orglocation_invalid", Row{"id": "org-i", "orglocation": `[{"id":`}},
		{"orglocation_object", Row{"id": "org-o", "orglocation": `{"id":"loc-state"}`}},
		{"hashtagid_differs", Row{"id": "org-h", "hashtagid": "something-else", "contactdetail": nil}},
		{"extra_columns", Row{"id": "org-x", "orgcode": "TN01", "noofmembers": 12, "legacy": nil}},
		{"overlay", Row{"id": "org-ov", "approvedby": "someone", "isdefault": true, "theme": "dark", "organisationtype": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, "org_"+tt.name, BuildOrganisation(tt.row, DefaultOrgTypes))
		})
	}
}

func TestBuildLocation(t *testing.T) {
	tests := []struct {
		name string
		row  Row
	}{
		{"full", Row{"id": "loc-district", "code": "TN-CHN", "name": "சென்னை", "parentid": "loc-state", "type": "district"}},
		{"all_null", Row{"id": "loc-null", "code": nil, "name": nil, "parentid": nil, "type": nil}},
		{"extra_columns", Row{"id": "loc-x", "type": "state", "population": int64(72147030)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGolden(t, "location_"+tt.name, BuildLocation(tt.row))
		})
	}
}

// checkGolden compares the document's encoding with testdata/<name>.json,
// stored indented for review (json.Indent changes only whitespace, so key
// order and escaping are still checked). It also checks that json.Marshal
// agrees with Encode byte for byte.
func checkGolden(t *testing.T, name string, doc Document) {
	t.Helper()
	got, err := doc.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	for _, v := range []any{doc, map[string]any(doc)} {
		std, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal(%T): %v", v, err)
		}
		if !bytes.Equal(std, got) {
			t.Errorf("json.Marshal(%T) differs from Encode:\n std: %s\n got: %s", v, std, got)
		}
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("Encode gave invalid JSON: %v\n%s", err, got)
	}
	pretty.WriteByte('\n')

	path := filepath.Join("testdata", name+".json")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), pretty.String()); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
