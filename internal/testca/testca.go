// Package testca makes certificate authorities and server certificates for
// the TLS tests and the test stack, with crypto/x509 alone (no openssl, no
// keytool). testinfra/certgen writes one for the stack's servers (the
// Cassandra cluster's client encryption, the https search engine); tests make
// their own for `indexsync serve --tls-cert` and for the "wrong CA" cases.
//
// Nothing here is for production: keys are ECDSA P-256, unencrypted.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// CertPEM is the CA certificate, PEM-encoded: what a client trusts
	// (--cassandra-tls-ca, --search-tls-ca, --api-tls-ca).
	CertPEM []byte
}

// Pair is a server certificate and its key, PEM-encoded.
type Pair struct {
	CertPEM []byte // the certificate, then the CA's
	KeyPEM  []byte // PKCS #8
}

// New makes a self-signed CA named name, valid for ten years from an hour
// ago (clock skew between the test and the servers does not matter).
func New(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"indexsync tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Issue makes a server certificate for hosts: IP addresses go into the IP
// SANs, names into the DNS SANs (clients verify either).
func (ca *CA) Issue(hosts ...string) (Pair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"indexsync tests"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(2, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("server certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return Pair{
		CertPEM: append(certPEM, ca.CertPEM...),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}),
	}, nil
}

// Write puts the CA and a server pair into dir: ca.pem (the CA certificate),
// server.crt (certificate chain), server.key (its key) and server.pem (key
// then chain: the single-file PEM keystore Cassandra's
// PEMBasedSslContextFactory reads). It returns the paths by those names.
func Write(dir string, ca *CA, p Pair) (map[string]string, error) {
	files := map[string][]byte{
		"ca.pem":     ca.CertPEM,
		"server.crt": p.CertPEM,
		"server.key": p.KeyPEM,
		"server.pem": append(append([]byte{}, p.KeyPEM...), p.CertPEM...),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for name, data := range files {
		path := filepath.Join(dir, name)
		mode := os.FileMode(0o644)
		if name == "server.key" || name == "server.pem" {
			mode = 0o600
		}
		if err := os.WriteFile(path, data, mode); err != nil {
			return nil, err
		}
		paths[name] = path
	}
	return paths, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}
