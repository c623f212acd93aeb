package sunbird

import (
	"fmt"
	"strings"
	"testing"
)

// The orders below are what Java 17 printed for
// list.stream().collect(Collectors.toConcurrentMap(s -> s, s -> s)).keySet(),
// the way Sunbird's OrgTypeValidator builds its map.
func TestOrgTypesJavaOrder(t *testing.T) {
	words := strings.Split("school,board,department,university,ngo,college,state,district,block,cluster,zone,trust,society,company", ",")
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"school", "board"}, "school,board"},
		{[]string{"board", "school"}, "school,board"},
		{words[:8], "college,school,university,ngo,district,state,department,board"},
		{words[:11], "college,cluster,school,zone,university,ngo,district,block,state,department,board"},
		{words[:12], "college,trust,cluster,university,school,zone,ngo,district,block,state,department,board"},
		{words[:13], "college,trust,cluster,university,society,school,zone,ngo,district,block,state,department,board"},
		{strings.Split("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r", ","), "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r"},
	}
	for _, tt := range tests {
		var fields []string
		for i, n := range tt.names {
			fields = append(fields, fmt.Sprintf(`{"name":%q,"value":%d,"flagNameList":["is%s"]}`, n, i+1, n))
		}
		types, err := ParseOrgTypes(`{"fields":[` + strings.Join(fields, ",") + `]}`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ty := range types {
			got = append(got, ty.Name)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%v: order %v, want %s", tt.names, got, tt.want)
		}
	}
	for s, want := range map[string]int32{"hello": 99162322, "school": -907977868, "தமிழ்": -1450814002} {
		if got := javaStringHash(s); got != want {
			t.Errorf("javaStringHash(%q) = %d, want %d (Java's String.hashCode)", s, got, want)
		}
	}
}

func TestParseOrgTypesErrors(t *testing.T) {
	for _, bad := range []string{
		`not json`,
		`{"fields":[{"name":"School"}]}`,
		`{"fields":[{"name":"School","value":2},{"name":"school","value":3}]}`,
	} {
		if _, err := ParseOrgTypes(bad); err == nil {
			t.Errorf("ParseOrgTypes(%s) accepted", bad)
		}
	}
	if got, err := ParseOrgTypes(`{"other":1}`); err != nil || len(got) != 0 {
		t.Errorf("a setting without fields: %v %v, want no types", got, err)
	}
}

func TestOrganisationTypeFlags(t *testing.T) {
	tests := []struct {
		name          string
		typ, sub      any
		types         OrgTypes
		school, board any // nil: key absent
	}{
		{"school", 2, nil, DefaultOrgTypes, true, nil},
		{"board", 5, nil, DefaultOrgTypes, nil, true},
		{"board with school sub-type", 5, 2, DefaultOrgTypes, true, true},
		{"no configured type", 1, nil, DefaultOrgTypes, nil, nil},
		{"both types' bits: the first in Sunbird's map order wins", 7, nil, DefaultOrgTypes, true, nil},
		{"type as a decimal string", "2", nil, DefaultOrgTypes, true, nil},
		{"null type", nil, nil, DefaultOrgTypes, nil, nil},
		{"no types configured", 2, 5, OrgTypes{}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := BuildOrganisation(Row{"id": "o", "organisationtype": tt.typ, "organisationsubtype": tt.sub}, tt.types)
			for flag, want := range map[string]any{"isSchool": tt.school, "isBoard": tt.board} {
				got, present := doc[flag]
				if (want == nil) == present || (present && got != want) {
					t.Errorf("%s = %v (present %v), want %v", flag, got, present, want)
				}
			}
		})
	}
}
