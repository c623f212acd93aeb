package config

import (
	"github.com/indexsync/indexsync/internal/sunbird"

	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/indexsync/indexsync/internal/secret"
	"github.com/indexsync/indexsync/internal/tlstrust"
)

// SecretValue is a pflag.Value holding a secret; help and errors never show it.
type SecretValue struct{ S *secret.String }

// Set implements pflag.Value.
func (v *SecretValue) Set(s string) error { *v.S = secret.New(s); return nil }

// String implements pflag.Value.
func (v *SecretValue) String() string {
	if v.S == nil {
		return ""
	}
	return v.S.String()
}

// Type implements pflag.Value.
func (v *SecretValue) Type() string { return "secret" }

// Cassandra holds the settings for reaching Cassandra.
type Cassandra struct {
	Hosts        []string
	Port         int
	Username     string
	Password     secret.String
	PasswordFile string
	Keyspace     string
	Consistency  string
	TLSCA        string
	Timeout      time.Duration
}

// AddFlags registers the Cassandra flags.
func (c *Cassandra) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&c.Hosts, "cassandra-hosts", []string{"127.0.0.1"}, "Cassandra contact points (comma list; host or host:port)")
	fs.IntVar(&c.Port, "cassandra-port", 9042, "Cassandra native protocol port")
	fs.StringVar(&c.Username, "cassandra-username", "", "Cassandra user (empty when authentication is off)")
	fs.Var(&SecretValue{S: &c.Password}, "cassandra-password", "Cassandra password (prefer INDEXSYNC_CASSANDRA_PASSWORD or --cassandra-password-file)")
	fs.StringVar(&c.PasswordFile, "cassandra-password-file", "", "read the Cassandra password from this file")
	fs.StringVar(&c.Keyspace, "keyspace", "sunbird", "Cassandra keyspace")
	fs.StringVar(&c.Consistency, "cassandra-consistency", "LOCAL_ONE", "read consistency level")
	fs.StringVar(&c.TLSCA, "cassandra-tls-ca", "", "PEM CA file: connect to Cassandra with TLS")
	fs.DurationVar(&c.Timeout, "cassandra-timeout", 30*time.Second, "per-request timeout for Cassandra")
}

// Finalize reads the password file and checks the values.
func (c *Cassandra) Finalize() error {
	var errs []error
	if len(c.Hosts) == 0 {
		errs = append(errs, errors.New("--cassandra-hosts is empty: give at least one Cassandra host"))
	}
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("--cassandra-port %d is not a TCP port (1-65535)", c.Port))
	}
	if c.Keyspace == "" {
		errs = append(errs, errors.New("--keyspace is empty"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--cassandra-timeout %s must be positive", c.Timeout))
	}
	if !validConsistency[strings.ToUpper(c.Consistency)] {
		errs = append(errs, fmt.Errorf("--cassandra-consistency %q is not a consistency level (use LOCAL_ONE, ONE, LOCAL_QUORUM, QUORUM, ALL)", c.Consistency))
	}
	if err := readSecretFile(&c.Password, c.PasswordFile, "--cassandra-password-file", "--cassandra-password"); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, checkCA(c.TLSCA, "--cassandra-tls-ca"))
	if err := errors.Join(errs...); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

var validConsistency = map[string]bool{
	"ANY": true, "ONE": true, "TWO": true, "THREE": true, "QUORUM": true, "ALL": true,
	"LOCAL_QUORUM": true, "EACH_QUORUM": true, "LOCAL_ONE": true,
}

// Search holds the settings for reaching the search engine.
type Search struct {
	URLs         []string
	Username     string
	Password     secret.String
	PasswordFile string
	TLSCA        string
	Timeout      time.Duration
	// Indexes names the index or alias of each kind's documents, by kind
	// name (--user-index, --org-index, --location-index).
	Indexes map[string]string
}

// AddFlags registers the search engine flags.
func (s *Search) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&s.URLs, "search-url", []string{"http://127.0.0.1:9200"}, "Elasticsearch/OpenSearch URL (comma list allowed)")
	fs.StringVar(&s.Username, "search-username", "", "search engine user for basic auth")
	fs.Var(&SecretValue{S: &s.Password}, "search-password", "search engine password (prefer INDEXSYNC_SEARCH_PASSWORD or --search-password-file)")
	fs.StringVar(&s.PasswordFile, "search-password-file", "", "read the search engine password from this file")
	fs.StringVar(&s.TLSCA, "search-tls-ca", "", "PEM CA file for an https search URL")
	fs.DurationVar(&s.Timeout, "search-timeout", 60*time.Second, "per-request timeout for the search engine")
	s.Indexes = map[string]string{}
	for _, k := range sunbird.Kinds() {
		s.Indexes[k.Name] = k.DefaultIndex
		fs.Var(mapString{m: s.Indexes, key: k.Name}, k.IndexFlag, "index or alias of "+k.Name+" documents")
	}
}

// Index returns the index or alias that holds the documents of a kind and
// the flag that sets it.
func (s *Search) Index(k sunbird.Kind) (name, flag string) {
	return s.Indexes[k.Name], "--" + k.IndexFlag
}

// mapString is a string flag stored in a map entry.
type mapString struct {
	m   map[string]string
	key string
}

func (f mapString) String() string     { return f.m[f.key] }
func (f mapString) Set(v string) error { f.m[f.key] = v; return nil }
func (f mapString) Type() string       { return "string" }

// Finalize reads the password file and checks the values.
func (s *Search) Finalize() error {
	var errs []error
	if len(s.URLs) == 0 {
		errs = append(errs, errors.New("--search-url is empty: give the search engine's URL"))
	}
	for _, raw := range s.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--search-url %q is not an http(s) URL (example: http://127.0.0.1:9200)", secret.RedactURL(raw)))
		}
	}
	if s.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--search-timeout %s must be positive", s.Timeout))
	}
	for _, k := range sunbird.Kinds() {
		if name, flag := s.Index(k); name == "" {
			errs = append(errs, fmt.Errorf("%s is empty", flag))
		}
	}
	if err := readSecretFile(&s.Password, s.PasswordFile, "--search-password-file", "--search-password"); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, checkCA(s.TLSCA, "--search-tls-ca"))
	if err := errors.Join(errs...); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// API holds the settings for calling a Sync API.
type API struct {
	Endpoint string
	Key      secret.String
	KeyFile  string
	TLSCA    string
}

// AddFlags registers the Sync API client flags.
func (a *API) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.Endpoint, "api-endpoint", "http://localhost:9000/v1/data/sync", "Sync API URL")
	fs.Var(&SecretValue{S: &a.Key}, "api-key", "Sync API key, sent as a Bearer token (prefer INDEXSYNC_API_KEY or --api-key-file)")
	fs.StringVar(&a.KeyFile, "api-key-file", "", "read the Sync API key from this file")
	fs.StringVar(&a.TLSCA, "api-tls-ca", "", "PEM CA file trusted (besides the system's) for an https --api-endpoint")
}

// Finalize reads the key file and checks the endpoint.
func (a *API) Finalize() error {
	var errs []error
	u, err := url.Parse(a.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--api-endpoint %q is not an http(s) URL", secret.RedactURL(a.Endpoint)))
	}
	if err := readSecretFile(&a.Key, a.KeyFile, "--api-key-file", "--api-key"); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, checkCA(a.TLSCA, "--api-tls-ca"))
	if err := errors.Join(errs...); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

// checkCA checks, when a CA file is set, that it holds a PEM certificate, so
// that a wrong path is a usage error at start, with the others.
func checkCA(path, flag string) error {
	if path == "" {
		return nil
	}
	_, err := tlstrust.Pool(path, flag, false)
	return err
}

// readSecretFile loads a secret from path when path is set. A trailing
// newline is dropped, as editors and `echo` add one.
func readSecretFile(dst *secret.String, path, fileFlag, valueFlag string) error {
	if path == "" {
		return nil
	}
	if dst.IsSet() {
		return fmt.Errorf("both %s and %s are set: use one", fileFlag, valueFlag)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", fileFlag, err)
	}
	*dst = secret.New(strings.TrimRight(string(data), "\r\n"))
	return nil
}
