// Command goclient makes one Go crypto/tls connection for capture.sh: goclient ADDR NAME CAFILE.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

func main() {
	pem, err := os.ReadFile(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	c, err := tls.Dial("tcp", os.Args[1], &tls.Config{ServerName: os.Args[2], RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", os.Args[2])
	buf := make([]byte, 100)
	_, _ = c.Read(buf)
	_ = c.Close()
}
