package schema

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReplication(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"1", "{'class': 'SimpleStrategy', 'replication_factor': 1}", false},
		{"SimpleStrategy:3", "{'class': 'SimpleStrategy', 'replication_factor': 3}", false},
		{"dc2:2,dc1:3", "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}", false},
		{"{'class': 'SimpleStrategy', 'replication_factor': 2}", "{'class': 'SimpleStrategy', 'replication_factor': 2}", false},
		{"0", "", true},
		{"dc1:x", "", true},
		{"dc'1:1", "", true},
	}
	for _, tt := range tests {
		got, err := Replication(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Replication(%q) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestColumns(t *testing.T) {
	got := Columns("user_roles")
	want := []string{"userid", "role", "scope", "createddate", "createdby", "updateddate", "updatedby"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if n := len(Columns("user")); n != 40 {
		t.Errorf("user has %d columns, want 40 (docs/sunbird.md, tables)", n)
	}
}

func TestIndexBodies(t *testing.T) {
	for _, ix := range []Index{UserIndex, OrganisationIndex, LocationIndex} {
		body, err := ix.Body(2, 0)
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Settings struct {
				Index map[string]any `json:"index"`
			} `json:"settings"`
			Mappings struct {
				Dynamic bool `json:"dynamic"`
			} `json:"mappings"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			t.Fatal(err)
		}
		if b.Settings.Index["number_of_shards"] != 2.0 || b.Settings.Index["number_of_replicas"] != 0.0 {
			t.Errorf("%s: settings %v", ix.ObjectType, b.Settings.Index)
		}
		if b.Mappings.Dynamic {
			t.Errorf("%s: mapping is dynamic", ix.ObjectType)
		}
	}
	name := UserIndex.NewName(time.Date(2026, 11, 25, 20, 55, 12, 345e6, time.UTC))
	if name != "userv3_20261125t205512345" || strings.ToLower(name) != name {
		t.Errorf("NewName = %q", name)
	}
}
