package licenses

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "write THIRD_PARTY_LICENSES (make licenses)")

// TestThirdPartyLicenses: THIRD_PARTY_LICENSES holds the license of every
// module in the indexsync binary, as go.mod has them now; a dependency
// added, removed or upgraded without `make licenses` fails here.
func TestThirdPartyLicenses(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Generate(root, "./cmd/indexsync")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "THIRD_PARTY_LICENSES")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"The Go standard library", "github.com/apache/cassandra-gocql-driver/v2 ", "Apache License", "github.com/spf13/cobra ", "github.com/prometheus/client_golang "} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("the generated text lacks %q", want)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run `make licenses`", err)
	}
	if !bytes.Equal(have, got) {
		t.Errorf("THIRD_PARTY_LICENSES is not what go.mod's modules give now: run `make licenses` and commit it (%d bytes, want %d)", len(have), len(got))
	}
	if n := strings.Count(string(got), "\n"+strings.Repeat("=", 79)+"\n"); n < 10 {
		t.Errorf("%d sections, want one per module and the standard library", n)
	}
}
