// Package tlstrust is what indexsync's three TLS clients (Cassandra, the
// search engine, the Sync API) share: the CA files of --cassandra-tls-ca,
// --search-tls-ca and --api-tls-ca, and one description, in words a user can
// act on, of why a server was not trusted — a failure that sending again
// cannot fix.
package tlstrust

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Pool returns the CAs a client trusts with the PEM file path: the system's
// and the file's when withSystem (an https search engine or API may well have
// a public certificate), else only the file's (Cassandra's nodes are signed
// by the deployment's own CA). flag names the setting in errors.
func Pool(path, flag string, withSystem bool) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if withSystem {
		if sys, err := x509.SystemCertPool(); err == nil {
			pool = sys
		}
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s holds no PEM certificate (want the CA certificate, -----BEGIN CERTIFICATE-----)", flag, path)
	}
	return pool, nil
}

// Problem says why a TLS connection failed when the server's certificate
// was not trusted or the server does not speak TLS there; "" when err is not
// such a failure. It reads the error's chain, and its text too, because some
// clients (the Cassandra driver) flatten the chain into a string.
func Problem(err error) string {
	if err == nil {
		return ""
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknownCA):
		return unknownAuthority
	case errors.As(err, &hostname):
		if hostname.Certificate == nil { // Error would panic
			return "the server's certificate is not for " + hostname.Host
		}
		return "the server's certificate is not for that address: " + strings.TrimPrefix(hostname.Error(), "x509: ")
	case errors.As(err, &invalid):
		return "the server's certificate is not valid: " + strings.TrimPrefix(invalid.Error(), "x509: ")
	case errors.As(err, &verify):
		return "the server's certificate is not trusted: " + strings.TrimPrefix(verify.Err.Error(), "x509: ")
	case errors.As(err, &record):
		return notTLS
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "x509: certificate signed by unknown authority"):
		return unknownAuthority
	case strings.Contains(msg, "x509: certificate is valid for"), strings.Contains(msg, "x509: cannot validate certificate"):
		return "the server's certificate is not for that address: " + after(msg, "x509: ")
	case strings.Contains(msg, "x509: "):
		return "the server's certificate is not trusted: " + after(msg, "x509: ")
	case strings.Contains(msg, "first record does not look like a TLS handshake"),
		strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return notTLS
	}
	return ""
}

const (
	unknownAuthority = "the server's certificate is signed by an authority the given CA file does not hold (or, without one, the system does not trust)"
	notTLS           = "the server does not speak TLS there (a plain port, or TLS not enabled on it)"
)

func after(s, sep string) string {
	if i := strings.Index(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}
