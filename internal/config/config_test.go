package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/indexsync/indexsync/internal/secret"
)

func TestLayerPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		env       map[string]string
		file      File
		wantPort  int
		wantHosts []string
	}{
		{"default", nil, nil, nil, 9042, []string{"127.0.0.1"}},
		{"file over default", nil, nil, File{"cassandra-port": "9100", "cassandra-hosts": "a,b"}, 9100, []string{"a", "b"}},
		{"env over file", nil, map[string]string{"INDEXSYNC_CASSANDRA_PORT": "9200", "INDEXSYNC_CASSANDRA_HOSTS": "c"}, File{"cassandra-port": "9100", "cassandra-hosts": "a,b"}, 9200, []string{"c"}},
		{"flag over env", []string{"--cassandra-port", "9300", "--cassandra-hosts", "d,e"}, map[string]string{"INDEXSYNC_CASSANDRA_PORT": "9200", "INDEXSYNC_CASSANDRA_HOSTS": "c"}, File{"cassandra-port": "9100"}, 9300, []string{"d", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Cassandra
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			c.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			env := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			if err := Layer(fs, env, tt.file); err != nil {
				t.Fatal(err)
			}
			if c.Port != tt.wantPort {
				t.Errorf("port = %d, want %d", c.Port, tt.wantPort)
			}
			if diff := cmp.Diff(tt.wantHosts, c.Hosts); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLayerReportsEveryBadValueAndHidesSecrets(t *testing.T) {
	var c Cassandra
	var s Search
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.AddFlags(fs)
	s.AddFlags(fs)
	env := map[string]string{
		"INDEXSYNC_CASSANDRA_PORT":    "nine",
		"INDEXSYNC_CASSANDRA_TIMEOUT": "forever",
		"INDEXSYNC_SEARCH_PASSWORD":   "s3cret",
	}
	err := Layer(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"INDEXSYNC_CASSANDRA_PORT", "INDEXSYNC_CASSANDRA_TIMEOUT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if s.Password.Reveal() != "s3cret" {
		t.Errorf("password from env not applied")
	}
	if _, ok := err.(*UsageError); !ok {
		t.Errorf("error is %T, want *UsageError", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte("cassandra-hosts: [h1, h2]\ncassandra-port: 9999\ncassandra-timeout: 5s\nlog-format: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := File{"cassandra-hosts": "h1,h2", "cassandra-port": "9999", "cassandra-timeout": "5s", "log-format": "json"}
	if diff := cmp.Diff(want, f); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
	var c Cassandra
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := Layer(fs, func(string) (string, bool) { return "", false }, f); err != nil {
		t.Fatal(err)
	}
	if c.Timeout != 5*time.Second || c.Port != 9999 {
		t.Errorf("got timeout %s port %d", c.Timeout, c.Port)
	}
	if got := f.UnknownKeys(func(k string) bool { return k != "log-format" }); !cmp.Equal(got, []string{"log-format"}) {
		t.Errorf("unknown keys = %v", got)
	}

	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("cassandra: {hosts: x}\n"), 0o600)
	if _, err := LoadFile(bad); err == nil || !strings.Contains(err.Error(), "flat keys") {
		t.Errorf("nested key: err = %v", err)
	}
}

func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pw")
	_ = os.WriteFile(p, []byte("hunter2\n"), 0o600)
	c := Cassandra{Hosts: []string{"h"}, Port: 9042, Keyspace: "k", Consistency: "LOCAL_ONE", Timeout: time.Second, PasswordFile: p}
	if err := c.Finalize(); err != nil {
		t.Fatal(err)
	}
	if c.Password.Reveal() != "hunter2" {
		t.Errorf("password = %q", c.Password.Reveal())
	}
	c.PasswordFile = p // now both set
	if err := c.Finalize(); err == nil || !strings.Contains(err.Error(), "use one") {
		t.Errorf("both password and file: err = %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "5MiB": 5 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "10MB": 10_000_000} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseByteSize("lots"); err == nil {
		t.Error("ParseByteSize(lots): want an error")
	}
}

func TestSecretListRefusesEmptyKeys(t *testing.T) {
	var keys []secret.String
	v := SecretList{L: &keys}
	if err := v.Set(" k1-aaaa , k2-bbbb "); err != nil || len(keys) != 2 || keys[0].Reveal() != "k1-aaaa" || keys[1].Reveal() != "k2-bbbb" {
		t.Fatalf("Set of two keys: %v, %d keys", err, len(keys))
	}
	for _, in := range []string{"k1,,k2", "k1,", ",k1", " ", "k1, ,k2"} {
		err := v.Set(in)
		if err == nil || !strings.Contains(err.Error(), "must go in the keys file") {
			t.Errorf("Set(%q): err = %v, want an empty key refused", in, err)
		}
		if err != nil && strings.Contains(err.Error(), "k1") {
			t.Errorf("Set(%q): the error shows a key: %v", in, err)
		}
	}
}
