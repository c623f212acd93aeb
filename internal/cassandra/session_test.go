package cassandra_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/indexsync/indexsync/internal/cassandra"
	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/testenv"
)

// TestConnectDiagnosesWithKeyspace: with a keyspace bound, a failed session
// is opened again without it to tell a missing keyspace from a refused
// login; that second session needs a host selection policy of its own (the
// driver panics on a shared token-aware one).
func TestConnectDiagnosesWithKeyspace(t *testing.T) {
	addr := testenv.Cassandra(t)
	for _, tc := range []struct {
		name     string
		password secret.String
		keyspace string
		want     cassandra.Problem
	}{
		{"bad password", secret.New("not-the-password"), "system", cassandra.BadCredentials},
		{"no such keyspace", addr.Password, "no_such_keyspace_x", cassandra.NoKeyspace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cassandra.Connect(context.Background(), cassandra.Config{
				Hosts: []string{addr.Host}, Port: addr.Port, Username: addr.Username, Password: tc.password,
				Keyspace: tc.keyspace, Timeout: 30 * time.Second,
			})
			ce, ok := errors.AsType[*cassandra.ConnectError](err)
			if !ok || ce.Problem != tc.want {
				t.Fatalf("got %v, want a ConnectError of problem %d", err, tc.want)
			}
		})
	}
}
