package syncjob

import (
	"strings"
	"testing"

	"github.com/indexsync/indexsync/internal/sunbird"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{"", Shard{0, 1}, false},
		{"0/4", Shard{0, 4}, false},
		{"3/4", Shard{3, 4}, false},
		{"4/4", Shard{0, 1}, true},
		{"-1/4", Shard{0, 1}, true},
		{"1/0", Shard{0, 1}, true},
		{"0/5000", Shard{0, 1}, true},
		{"a/b", Shard{0, 1}, true},
		{"2", Shard{0, 1}, true},
	}
	for _, tt := range tests {
		got, err := ParseShard(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestSpecFinish pins the defaults that depend on the target and the
// combinations and bounds that are refused, all reported at once.
func TestSpecFinish(t *testing.T) {
	api := Spec{Kind: sunbird.UserKind, Target: APITarget, BlockBytes: 5 << 20}
	if err := api.Finish(2); err != nil || api.BlockSize != DefaultAPIBlockSize || api.Concurrency != 1 || api.Ranges != 256 {
		t.Errorf("api defaults: %+v %v", api, err)
	}
	search := Spec{Kind: sunbird.UserKind, Target: SearchTarget, BlockBytes: 5 << 20}
	if err := search.Finish(2); err != nil || search.BlockSize != DefaultSearchBlockSize || search.Concurrency != 4 {
		t.Errorf("search defaults: %+v %v", search, err)
	}
	bad := Spec{Kind: sunbird.UserKind, Target: APITarget, BlockSize: 20000, Concurrency: 100000, BlockBytes: 10,
		Rebuild: true, IDsFile: "x", Rate: -1, Retries: -1}
	err := bad.Finish(2)
	for _, want := range []string{"--block-size 20000", "--concurrency 100000", "--bulk-bytes 10", "--rebuild needs --target search", "cannot take --ids-file", "--rate", "--retries -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want it to name %q", err, want)
		}
	}
}
