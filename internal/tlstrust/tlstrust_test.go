package tlstrust

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/indexsync/indexsync/internal/testca"
)

func TestProblem(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // a part of the description; "" for none
	}{
		{"unknown authority", fmt.Errorf("dial: %w", x509.UnknownAuthorityError{}), "signed by an authority"},
		{"wrong host", &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "10.0.0.9"}}, "not for that address"},
		{"plain port", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, "does not speak TLS"},
		// the Cassandra driver flattens its errors into text
		{"flattened unknown authority", errors.New("gocql: unable to create session: unable to discover protocol version: tls: failed to verify certificate: x509: certificate signed by unknown authority"), "signed by an authority"},
		{"flattened wrong host", errors.New("tls: failed to verify certificate: x509: certificate is valid for 127.0.0.1, not 127.0.0.9"), "valid for 127.0.0.1, not 127.0.0.9"},
		{"flattened expiry", errors.New("tls: failed to verify certificate: x509: certificate has expired or is not yet valid"), "has expired"},
		{"flattened plain port", errors.New("unable to discover protocol version: tls: first record does not look like a TLS handshake"), "does not speak TLS"},
		{"https to http", errors.New(`Get "https://x:9200/": http: server gave HTTP response to HTTPS client`), "does not speak TLS"},
		{"refused", errors.New("dial tcp 127.0.0.1:9042: connect: connection refused"), ""},
		{"nil", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Problem(tc.err)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("Problem(%v) = %q, want it to say %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestPool(t *testing.T) {
	dir := t.TempDir()
	ca, err := testca.New("pool test")
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ca.pem")
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(good, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("-----BEGIN PRIVATE KEY-----\nnope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Pool(good, "--x-tls-ca", false); err != nil {
		t.Errorf("a CA certificate: %v", err)
	}
	for path, want := range map[string]string{bad: "--x-tls-ca " + bad + " holds no PEM certificate", filepath.Join(dir, "none.pem"): "read --x-tls-ca: open"} {
		if _, err := Pool(path, "--x-tls-ca", true); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Pool(%s) = %v, want %q", path, err, want)
		}
	}
}
