package cassandra_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/testenv"
)

// tokenKeys cover every tail length, several blocks, and bytes ≥ 0x80 in
// the tail (which Cassandra's Murmur3 sign-extends).
func tokenKeys() []string {
	keys := []string{"ü", "日本語", "é🙂x", "\u00ff\u00fe", "4f1c0c3e-6a8b-4b3e-9c61-2d7f5a0e9b11"}
	for n := 1; n <= 40; n++ {
		keys = append(keys, strings.Repeat("a", n), strings.Repeat("é", n))
	}
	return keys
}

// Tokens read from Cassandra 5.0 (SELECT token(id) …) for fixed keys, so
// the hash is checked without a server too.
var knownTokens = map[string]int64{
	"a":                                    -8839064797231613815,
	"ü":                                    2039338041252279364,
	"日本語":                                  2587241856907040145,
	"4f1c0c3e-6a8b-4b3e-9c61-2d7f5a0e9b11": -3308301720914072058,
	"aaaaaaaaaaaaaaaa":                     -954455200256842034,
	"éééééééééééééééééé":                   -1529424239976834910,
}

func TestTokenKnown(t *testing.T) {
	for k, want := range knownTokens {
		if got := cassandra.Token(k); got != want {
			t.Errorf("Token(%q) = %d, want %d", k, got, want)
		}
	}
}

func TestTokenMatchesCassandra(t *testing.T) {
	addr := testenv.Cassandra(t)
	ctx := context.Background()
	sess, err := cassandra.Connect(ctx, cassandra.Config{
		Hosts: []string{addr.Host}, Port: addr.Port, Username: addr.Username, Password: addr.Password,
		Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ks := testenv.Name("tok")
	if err := sess.Query("CREATE KEYSPACE " + ks + " WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}").ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sess.Query("DROP KEYSPACE IF EXISTS " + ks).ExecContext(context.Background()) }()
	if err := sess.Query("CREATE TABLE " + ks + ".t (id text PRIMARY KEY)").ExecContext(ctx); err != nil {
		t.Fatal(err)
	}
	for _, k := range tokenKeys() {
		if err := sess.Query("INSERT INTO "+ks+".t (id) VALUES (?)", k).ExecContext(ctx); err != nil {
			t.Fatal(err)
		}
	}
	iter := sess.Query("SELECT token(id), id FROM " + ks + ".t").IterContext(ctx)
	var (
		tok int64
		id  string
		n   int
	)
	for iter.Scan(&tok, &id) {
		n++
		if got := cassandra.Token(id); got != tok {
			t.Errorf("Token(%q) = %d, Cassandra says %d", id, got, tok)
		}
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if n != len(tokenKeys()) {
		t.Errorf("read %d keys back, want %d", n, len(tokenKeys()))
	}
}
