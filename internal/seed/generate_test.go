package seed

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestDeterministic(t *testing.T) {
	opts := Options{Users: 100, Orgs: 20, Seed: 42}
	locs := Locations(opts)
	if diff := cmp.Diff(Organisations(opts, locs), Organisations(opts, Locations(opts))); diff != "" {
		t.Errorf("organisations differ between runs:\n%s", diff)
	}
	for i := range 100 {
		if diff := cmp.Diff(User(opts, locs, i), User(opts, locs, i)); diff != "" {
			t.Fatalf("user %d differs between runs:\n%s", i, diff)
		}
	}
	other := User(Options{Users: 100, Orgs: 20, Seed: 43}, locs, 0)
	if other.User["id"] == User(opts, locs, 0).User["id"] {
		t.Error("another seed gives the same user id")
	}
}

// TestShape checks that the data set has the variety the issue asks for.
func TestShape(t *testing.T) {
	opts := Options{Users: 3000, Orgs: 30, Seed: 1}
	locs := Locations(opts)
	orgs := map[string]bool{}
	for _, o := range Organisations(opts, locs) {
		orgs[o["id"].(string)] = true
	}
	var (
		nonASCII, nullRoot, missingRoot, blankJSON, badJSON, tnc, nullFlags int
		memberships, delTrue, delNull                                       int
		ids                                                                 = map[string]bool{}
		flags                                                               = map[any]bool{}
	)
	for i := range opts.Users {
		u := User(opts, locs, i)
		id := u.User["id"].(string)
		if ids[id] {
			t.Fatalf("duplicate user id %s", id)
		}
		ids[id] = true
		if u.User["userid"] != id {
			t.Errorf("userid %v != id %s", u.User["userid"], id)
		}
		if fn := u.User["firstname"].(string); !isASCII(fn) && utf8.ValidString(fn) {
			nonASCII++
		}
		switch r := u.User["rootorgid"]; {
		case r == nil:
			nullRoot++
		case !orgs[r.(string)]:
			missingRoot++
		}
		switch pl := u.User["profilelocation"]; {
		case pl == "":
			blankJSON++
		case pl != nil && !json.Valid([]byte(pl.(string))):
			badJSON++
		}
		if u.User["alltncaccepted"] != nil {
			tnc++
		}
		if u.User["flagsvalue"] == nil {
			nullFlags++
		} else {
			flags[u.User["flagsvalue"]] = true
		}
		if len(u.Orgs) > 5 || len(u.Roles) < 1 || len(u.Roles) > 3 {
			t.Errorf("user %d: %d memberships, %d roles", i, len(u.Orgs), len(u.Roles))
		}
		for _, m := range u.Orgs {
			memberships++
			switch m["isdeleted"] {
			case true:
				delTrue++
			case nil:
				delNull++
			}
		}
	}
	for name, n := range map[string]int{
		"non-ASCII first names": nonASCII, "null rootorgid": nullRoot, "rootorgid of a missing org": missingRoot,
		"blank profilelocation": blankJSON, "malformed profilelocation": badJSON, "alltncaccepted maps": tnc,
		"null flagsvalue": nullFlags, "memberships deleted": delTrue, "memberships with null isdeleted": delNull,
	} {
		if n == 0 {
			t.Errorf("no %s in %d users", name, opts.Users)
		}
	}
	if len(flags) != 7 {
		t.Errorf("flagsvalue takes %d distinct values, want 0..6", len(flags))
	}
	if memberships == 0 {
		t.Error("no memberships")
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
