// Command certgen writes a test CA and a server certificate for the test
// stack's TLS servers (testinfra/stack.sh runs it): the Cassandra cluster's
// client encryption and the https search engine. Go's crypto/x509 does the
// work (internal/testca), so the stack needs no openssl.
//
//	go run ./testinfra/certgen DIR HOST...
//
// writes DIR/ca.pem, DIR/server.crt, DIR/server.key and DIR/server.pem (key
// and chain in one file) for the given host names and IP addresses.
package main

import (
	"fmt"
	"os"

	"github.com/indexsync/indexsync/internal/testca"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: certgen DIR HOST...")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "certgen:", err)
		os.Exit(1)
	}
}

func run(dir string, hosts []string) error {
	ca, err := testca.New("indexsync test stack CA")
	if err != nil {
		return err
	}
	pair, err := ca.Issue(hosts...)
	if err != nil {
		return err
	}
	_, err = testca.Write(dir, ca, pair)
	return err
}
