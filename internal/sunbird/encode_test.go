package sunbird

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func fullUser() User {
	return User{
		Row:   fullUserRow(),
		Orgs:  []Row{userOrgRow("org-root", false), userOrgRow("org-school", false), userOrgRow("org-old", true)},
		Roles: []Row{userRoleRow("ORG_ADMIN", `[{"organisationId":"org-root"}]`), userRoleRow("PUBLIC", `[{"organisationId":"org-root"}]`)},
	}
}

// reversed rebuilds r inserting its columns in the opposite key order.
func reversed(r Row) Row {
	keys := slices.Sorted(maps.Keys(r))
	c := make(Row, len(r))
	for i := len(keys) - 1; i >= 0; i-- {
		c[keys[i]] = r[keys[i]]
	}
	return c
}

func TestEncodeDeterministic(t *testing.T) {
	u := fullUser()
	first, err := BuildUser(u, lookupOrgs).Encode()
	if err != nil {
		t.Fatal(err)
	}
	other := User{Row: reversed(u.Row)}
	for i := len(u.Orgs) - 1; i >= 0; i-- {
		other.Orgs = append(other.Orgs, reversed(u.Orgs[i]))
	}
	for i := len(u.Roles) - 1; i >= 0; i-- {
		other.Roles = append(other.Roles, reversed(u.Roles[i]))
	}
	for i := 0; i < 50; i++ {
		in := u
		if i%2 == 1 {
			in = other
		}
		got, err := BuildUser(in, lookupOrgs).Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, first) {
			t.Fatalf("run %d differs:\nfirst: %s\n  got: %s", i, first, got)
		}
	}
}

func TestBuildDoesNotModifyInput(t *testing.T) {
	u := fullUser()
	u.Orgs = []Row{userOrgRow("org-school", false), userOrgRow("org-root", false)} // unsorted
	before := fullUser()
	before.Orgs = []Row{userOrgRow("org-school", false), userOrgRow("org-root", false)}
	BuildUser(u, lookupOrgs)
	org := fullOrgRow()
	BuildOrganisation(org, DefaultOrgTypes)
	if diff := cmp.Diff(before, u); diff != "" {
		t.Errorf("BuildUser changed its input (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(fullOrgRow(), org); diff != "" {
		t.Errorf("BuildOrganisation changed its input (-before +after):\n%s", diff)
	}
}

func TestFieldName(t *testing.T) {
	tests := map[string]string{
		// docs/sunbird.md (field names), every entry.
		"alltncaccepted": "allTncAccepted", "countrycode": "countryCode", "createdby": "createdBy",
		"createddate": "createdDate", "emailverified": "emailVerified", "firstname": "firstName",
		"flagsvalue": "flagsValue", "isdeleted": "isDeleted", "lastname": "lastName",
		"locationids": "locationIds", "loginid": "loginId", "managedby": "managedBy",
		"maskedemail": "maskedEmail", "maskedphone": "maskedPhone", "phoneverified": "phoneVerified",
		"prevusedemail": "prevUsedEmail", "prevusedphone": "prevUsedPhone",
		"profilelocation": "profileLocation", "profileusertype": "profileUserType",
		"profileusertypes": "profileUserTypes", "recoveryemail": "recoveryEmail",
		"recoveryphone": "recoveryPhone", "rootorgid": "rootOrgId", "tncacceptedon": "tncAcceptedOn",
		"tncacceptedversion": "tncAcceptedVersion", "updatedby": "updatedBy",
		"updateddate": "updatedDate", "userid": "userId", "username": "userName",
		"usersubtype": "userSubType", "usertype": "userType", "organisationid": "organisationId",
		"addedby": "addedBy", "addedbyname": "addedByName", "approvedby": "approvedBy",
		"associationtype": "associationType", "hashtagid": "hashTagId", "isapproved": "isApproved",
		"isrejected": "isRejected", "orgleftdate": "orgLeftDate", "contactdetail": "contactDetail",
		"externalid": "externalId", "homeurl": "homeUrl", "imgurl": "imgUrl", "isrootorg": "isRootOrg",
		"isssoenabled": "isSSOEnabled", "istenant": "isTenant", "organisationtype": "organisationType",
		"organisationsubtype": "organisationSubType", // since Sunbird 4.9
		"orglocation":         "orgLocation", "orgname": "orgName", "parentid": "parentId",
		// docs/sunbird.md names it.
		"profiledetails": "profileDetails",
		// not renamed (docs/sunbird.md, field names).
		"orgjoindate": "orgjoindate", "approvaldate": "approvaldate",
		"id": "id", "email": "email", "phone": "phone",
		"dob": "dob", "channel": "channel", "framework": "framework", "status": "status",
		"roles": "roles", "role": "role", "scope": "scope", "position": "position", "keys": "keys",
		"slug": "slug", "unknowncolumn": "unknowncolumn",
		// Sunbird's list beyond docs/sunbird.md.
		"temppassword": "tempPassword", "lastlogintime": "lastLoginTime", "webpages": "webPages",
	}
	for col, want := range tests {
		if got := FieldName(col); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", col, got, want)
		}
	}
}

func TestEncodeValues(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, `null`},
		{"ints", []any{int(-1), int8(2), int16(3), int32(4), int64(1 << 62), uint(5), uint8(6), uint16(7), uint32(8), uint64(1 << 63)}, `[-1,2,3,4,4611686018427387904,5,6,7,8,9223372036854775808]`},
		{"floats", []any{0.0, 1.5, 1e21, 1e-7, 123456789.0, float32(0.1)}, `[0,1.5,1e+21,1e-7,123456789,0.1]`},
		{"number", []any{json.Number("12345678901234567890123"), json.Number("-0.5e+10"), json.Number("")}, `[12345678901234567890123,-0.5e+10,0]`},
		{"nil collections", []any{[]any(nil), []string(nil), map[string]any(nil), map[string]string(nil), map[string][]string(nil)}, `[null,null,null,null,null]`},
		{"sorted keys", map[string]string{"b": "1", "a": "2", "B": "3"}, `{"B":"3","a":"2","b":"1"}`},
		{"html escaped", "<a href=\"x\">&</a>", `"\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e"`},
		{"invalid utf8", "a\xffb", `"a\ufffdb"`},
		{"fallback", struct{ X []int }{[]int{1}}, `{"X":[1]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendValue(nil, tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			std, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(std) != string(got) {
				t.Errorf("encoding/json gives %s, we give %s", std, got)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  Document
		want string
	}{
		{"NaN", Document{"score": math.NaN()}, `field "score": unsupported number NaN`},
		{"Inf in list", Document{"l": []any{1, math.Inf(1)}}, `field "l": [1]: unsupported number +Inf`},
		{"bad number", Document{"n": json.Number("1.")}, `field "n": invalid number literal "1."`},
		{"fallback", Document{"c": make(chan int)}, `field "c": json: unsupported type: chan int`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.doc.Encode()
			if err == nil || err.Error() != tt.want {
				t.Errorf("got error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	want, err := BuildUser(fullUser(), lookupOrgs).Encode()
	if err != nil {
		t.Fatal(err)
	}
	// The same document indented, as another writer would produce it.
	var indented bytes.Buffer
	if err := json.Indent(&indented, want, "", "  "); err != nil {
		t.Fatal(err)
	}
	got, err := Canonical(indented.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Canonical of indented document differs:\n got: %s\nwant: %s", got, want)
	}
	// Keys out of order, HTML not escaped, digits kept.
	if got, err := Canonical([]byte(` { "b" : 1, "a" : [1.50, "<"] } `)); err != nil || string(got) != `{"a":[1.50,"\u003c"],"b":1}` {
		t.Errorf("Canonical = %s, %v", got, err)
	}
	for _, bad := range []string{``, `{`, `{} {}`} {
		if _, err := Canonical([]byte(bad)); err == nil {
			t.Errorf("Canonical(%q) did not fail", bad)
		}
	}
}

// FuzzEncodeString checks our string escaping against encoding/json.
func FuzzEncodeString(f *testing.F) {
	for _, s := range []string{"", "plain", "<>&", "\u2028\u2029", "\x00\x1f\x7f", "a\xffb", "ü😀", "\"\\/\b\f\n\r\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("AppendString(%q) = %s, want %s", s, got, want)
		}
	})
}

// FuzzEncodeFloat checks our float formatting against encoding/json.
func FuzzEncodeFloat(f *testing.F) {
	for _, x := range []float64{0, math.Copysign(0, -1), 1, 1e20, 1e21, 1e-6, 1e-7, 0.1, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		for _, v := range []any{x, float32(x)} {
			want, err := json.Marshal(v)
			if err != nil {
				continue // float32 overflow to Inf
			}
			got, err := appendValue(nil, v)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("appendValue(%T %v) = %s, %v; want %s", v, v, got, err, want)
			}
		}
	})
}

func BenchmarkBuildUser(b *testing.B) {
	u := fullUser()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = BuildUser(u, lookupOrgs).AppendJSON(buf[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkBuildUserStdlib is the same with encoding/json, for comparison.
func BenchmarkBuildUserStdlib(b *testing.B) {
	u := fullUser()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(map[string]any(BuildUser(u, lookupOrgs))); err != nil {
			b.Fatal(err)
		}
	}
}

// stdParseJSON is what parseJSON must equal: encoding/json's Decoder with
// UseNumber, one value, nothing after it.
func stdParseJSON(s string) (any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// jsonSeeds are the fuzz tests' first inputs.
var jsonSeeds = []string{
	``, ` `, `null`, `true`, `false`, `0`, `-0`, `01`, `1.`, `1.5e+10`, `-1E-2`, `12345678901234567890123`,
	`"plain"`, `"esc\"aped\\"`, `"\u00e9\ud83d\ude00"`, `"\ud800"`, `"bad\xffutf8"`, "\"ctl\x01\"", `"\x"`,
	`[]`, `{}`, `[1,"a",null,true,{"k":[{}]}]`, `{"a":1,"a":2}`, `{"a" : [ 1 , 2 ] }`, ` {"a":1} `,
	`[1,]`, `{"a":1,}`, `{"a"}`, `{1:2}`, `[1] x`, `[1][2]`, `{"a":1}}`, "\t[\r\n]\n", `nul`, `tru`,
	`[{"id":"loc-state","type":"state"}]`, `{"personalDetails":{"mobile":9876543210}}`,
	`{"b":1,"a":{"d":[1,{"z":0,"y":1}],"c":2},"a":3}`, `{"é":1,"e":2,"<":3,"\u003c":4}`, `[{"k":1,"k":2},{"k":3}]`,
	`{"z":{"b":1,"a":2},"y":[{"d":1,"c":2}],"x":"\u2028"}`, `{"a":{},"a":[]}`, ` [ "x" , { } ] `,
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, wantOK := stdParseJSON(s)
		got, gotOK := parseJSON(s)
		if gotOK != wantOK {
			t.Fatalf("parseJSON(%q) ok = %v, encoding/json ok = %v", s, gotOK, wantOK)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parseJSON(%q) differs from encoding/json (-std +ours):\n%s", s, diff)
		}
	})
}

func TestParseJSONDepth(t *testing.T) {
	for _, depth := range []int{maxDepth, maxDepth + 1} {
		s := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		_, wantOK := stdParseJSON(s)
		if _, gotOK := parseJSON(s); gotOK != wantOK {
			t.Errorf("depth %d: ok = %v, encoding/json ok = %v", depth, gotOK, wantOK)
		}
	}
}

// TestEncodeRemembersOrderOnlyForSameKeys: objects of one size but other
// keys, one after another through the same pooled encoder, each come out
// exactly as encoding/json writes them (sorted keys).
func TestEncodeRemembersOrderOnlyForSameKeys(t *testing.T) {
	object := func(prefix string, n, skip int) Document {
		d := Document{}
		for i := 0; len(d) < n; i++ {
			if i == skip {
				continue
			}
			d[prefix+strings.Repeat("k", i%3)+string(rune('a'+i))] = i
		}
		return d
	}
	docs := []Document{
		object("x", 20, -1), object("x", 20, 3), object("y", 20, -1), object("x", 20, -1),
		object("x", 21, -1), object("x", 20, 7), {"nested": object("z", 17, -1), "a": 1},
	}
	for round := range 3 {
		for i, d := range docs {
			got, err := d.Encode()
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(map[string]any(d))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("round %d, object %d:\n got %s\nwant %s", round, i, got, want)
			}
		}
	}
}

// appendValue writes v as encoding/json would.
func appendValue(b []byte, v any) ([]byte, error) {
	var e encoder
	return e.value(b, v)
}

// FuzzAppendCanonical: appendCanonical writes what encoding parseJSON's
// value writes, and refuses exactly what parseJSON refuses or what is not an
// array ('[') or an object ('{').
func FuzzAppendCanonical(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add(s)
	}
	var e encoder
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseJSON(s)
		for _, open := range []byte{'[', '{'} {
			wantOK := false
			switch v.(type) {
			case []any:
				wantOK = ok && open == '['
			case map[string]any:
				wantOK = ok && open == '{'
			}
			got, gotOK := appendCanonical([]byte("x"), s, open, &e)
			if gotOK != wantOK {
				t.Fatalf("appendCanonical(%q, %c) ok = %v, want %v", s, open, gotOK, wantOK)
			}
			if !gotOK {
				if string(got) != "x" {
					t.Fatalf("appendCanonical(%q, %c) failed but wrote %q", s, open, got)
				}
				continue
			}
			want, err := appendValue([]byte("x"), v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("appendCanonical(%q):\n got %s\nwant %s", s, got, want)
			}
		}
	})
}
