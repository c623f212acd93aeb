package sunbird

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// built is the reference: BuildUser's document, encoded.
func built(t *testing.T, u User, names OrgNames) []byte {
	t.Helper()
	want, err := BuildUser(u, names).Encode()
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// valuesOf is r as Values, its columns in map order; rows of one table
// share their Cols, as the rows of one query do.
func valuesOf(r Row, shared map[string][]string) Values {
	var v Values
	for c := range r {
		v.Cols = append(v.Cols, c)
	}
	key := strings.Join(slices.Sorted(slices.Values(v.Cols)), ",")
	if cols, ok := shared[key]; ok {
		v.Cols = cols
	} else {
		shared[key] = v.Cols
	}
	for _, c := range v.Cols {
		v.Vals = append(v.Vals, r[c])
	}
	return v
}

func appended(t *testing.T, a *Appender, u User) []byte {
	t.Helper()
	shared := map[string][]string{}
	var orgs, roles []Values
	for _, r := range u.Orgs {
		orgs = append(orgs, valuesOf(r, shared))
	}
	for _, r := range u.Roles {
		roles = append(roles, valuesOf(r, shared))
	}
	got, err := a.Append([]byte("prefix"), valuesOf(u.Row, shared), [][]Values{orgs, roles})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("Append lost what dst held: %.40s", got)
	}
	return got[len("prefix"):]
}

// TestAppenderWritesWhatBuildDoes: every user of the build tests comes out
// of an Appender byte for byte as BuildUser(...).Encode() writes it, with a
// fresh Appender, with one Appender going through all of them (its layouts
// recompiled as the columns change), and without organisation names.
func TestAppenderWritesWhatBuildDoes(t *testing.T) {
	shared := UserKind.Appender(Lookups{OrgNames: lookupOrgs})
	noNames := UserKind.Appender(Lookups{})
	for round := range 2 {
		for _, tc := range userCases() {
			want := built(t, tc.user, lookupOrgs)
			for name, a := range map[string]*Appender{"fresh": UserKind.Appender(Lookups{OrgNames: lookupOrgs}), "shared": shared} {
				if got := appended(t, a, tc.user); !bytes.Equal(got, want) {
					t.Errorf("round %d, %s, %s Appender:\n got %s\nwant %s", round, tc.name, name, got, want)
				}
			}
			if got, want := appended(t, noNames, tc.user), built(t, tc.user, nil); !bytes.Equal(got, want) {
				t.Errorf("round %d, %s, no organisation names:\n got %s\nwant %s", round, tc.name, got, want)
			}
		}
	}
	if shared.viaBuild+noNames.viaBuild > 0 {
		t.Errorf("%d documents went through Build, not a layout", shared.viaBuild+noNames.viaBuild)
	}
}

// TestAppenderOnOddRows: users made at random from the full rows — columns
// null, missing, of other types, extra, named like the fields BuildUser
// derives or overlays, or colliding on one field name — written by one
// Appender, each equal to BuildUser's bytes.
func TestAppenderOnOddRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	odd := []any{
		nil, "", "text", "6", 3, int64(4), true, 0.5, time.Date(2020, 1, 2, 3, 4, 5, 6_000_000, ist),
		[]string(nil), []string{"a"}, map[string]string(nil), map[string]string{"k": `{"a":1}`, "j": "x"},
		map[string][]string{"x": nil}, `[{"id":"l"}]`, `{"type":"t"}`, " org-root ", "org-root", "org-noname",
	}
	// Extra columns per table. Two columns with one field name make
	// BuildUser's result depend on map order unless a later step replaces
	// the field (emailVerified, a role's userId), so only those collide.
	userExtra := []string{
		"stateValidated", "rootOrgName", "identifier", "organisations", "emailVerified",
		"password", "nickname", "ROLES", "orgName",
	}
	orgExtra := []string{"orgName", "nickname", "roles", "ROLES", "isdeleted"}
	roleExtra := []string{"userId", "scope", "nickname", "organisations"}
	// shape picks, for one table of one user, which columns are dropped and
	// which are added: rows of one query share their columns.
	type shape struct {
		drop  map[string]bool
		extra []string
	}
	newShape := func(r Row, names []string) shape {
		sh := shape{drop: map[string]bool{}}
		for col := range r {
			if rng.IntN(8) == 0 && col != "id" && col != "organisationid" && col != "role" {
				sh.drop[col] = true
			}
		}
		for range rng.IntN(3) {
			sh.extra = append(sh.extra, names[rng.IntN(len(names))])
		}
		return sh
	}
	mutate := func(r Row, sh shape) Row {
		r = with(r)
		for col := range r {
			switch {
			case sh.drop[col]:
				delete(r, col)
			case rng.IntN(4) == 0:
				r[col] = nil
			case rng.IntN(4) == 0:
				r[col] = odd[rng.IntN(len(odd))]
			}
		}
		for _, col := range sh.extra {
			r[col] = odd[rng.IntN(len(odd))]
		}
		return r
	}
	orgIDs := []string{"org-root", "org-school", "org-gone", "org-noname"}
	a := UserKind.Appender(Lookups{OrgNames: lookupOrgs})
	for i := range 3000 {
		ush := newShape(fullUserRow(), userExtra)
		u := User{Row: mutate(fullUserRow(), ush)}
		osh := newShape(userOrgRow("", false), orgExtra)
		for range rng.IntN(4) {
			u.Orgs = append(u.Orgs, mutate(userOrgRow(orgIDs[rng.IntN(4)], rng.IntN(4) == 0), osh))
		}
		rsh := newShape(userRoleRow("", nil), roleExtra)
		for range rng.IntN(4) {
			u.Roles = append(u.Roles, mutate(userRoleRow(fmt.Sprintf("ROLE_%d", rng.IntN(9)), `[{"organisationId":"org-root"}]`), rsh))
		}
		want := built(t, u, lookupOrgs)
		if got := appended(t, a, u); !bytes.Equal(got, want) {
			t.Fatalf("user %d (%v):\n got %s\nwant %s", i, u, got, want)
		}
	}
	// two columns of one field name (emailverified and emailVerified) are
	// written by a layout too, as the field is replaced
	if a.viaBuild != 0 {
		t.Errorf("%d of 3,000 users went through Build, not a layout", a.viaBuild)
	}
}

// TestAppenderOtherKinds: organisations and locations are written as Build
// writes them.
func TestAppenderOtherKinds(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		row  Row
		l    Lookups
	}{
		{OrganisationKind, fullOrgRow(), Lookups{OrgTypes: DefaultOrgTypes}},
		{LocationKind, Row{"id": "loc-1", "name": "Chennai", "type": "district", "parentid": "loc-state"}, Lookups{}},
	} {
		want, err := tc.kind.Build(Object{Row: tc.row}, tc.l).Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := tc.kind.Appender(tc.l).Append(nil, valuesOf(tc.row, map[string][]string{}), nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %s (%v)\nwant %s", tc.kind.Name, got, err, want)
		}
	}
}

func BenchmarkAppendUser(b *testing.B) {
	u := fullUser()
	a := UserKind.Appender(Lookups{OrgNames: lookupOrgs})
	shared := map[string][]string{}
	row := valuesOf(u.Row, shared)
	var orgs, roles []Values
	for _, r := range u.Orgs {
		orgs = append(orgs, valuesOf(r, shared))
	}
	for _, r := range u.Roles {
		roles = append(roles, valuesOf(r, shared))
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = a.Append(buf[:0], row, [][]Values{orgs, roles}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// TestAppenderLeavesCollidingColumnsToBuild: a user row with two columns of
// one field name that no step replaces is written through Build (either
// column's value, as Build's map order picks it).
func TestAppenderLeavesCollidingColumnsToBuild(t *testing.T) {
	a := UserKind.Appender(Lookups{})
	got := appended(t, a, User{Row: minimal("userid", "a", "userId", "b")})
	if !bytes.Contains(got, []byte(`"userId":"a"`)) && !bytes.Contains(got, []byte(`"userId":"b"`)) || a.viaBuild != 1 {
		t.Errorf("got %s, %d through Build", got, a.viaBuild)
	}
}

// TestAppenderMixedChildColumns: memberships of one user with different
// columns (no single query gives them) are still written right.
func TestAppenderMixedChildColumns(t *testing.T) {
	a := UserKind.Appender(Lookups{OrgNames: lookupOrgs})
	u := User{Row: minimal(), Orgs: []Row{
		userOrgRow("org-root", false),
		with(userOrgRow("org-school", false), "position", nil, "extra", "x"),
	}}
	if got, want := appended(t, a, u), built(t, u, lookupOrgs); !bytes.Equal(got, want) {
		t.Errorf("got %s\nwant %s", got, want)
	}
}
