package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/audit-io/wire-audit/capture/config"
)

// TLSConfig builds the client TLS config from PEM files: the CA that signed the brokers'
// certificates, and an optional client certificate. Verification is on unless insecure.
func TLSConfig(c *config.KafkaTLS) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // only when explicitly configured
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls.caFile: %w", err)
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls.caFile %s: no PEM certificate in it", c.CAFile)
		}
	}
	if c.CertFile != "" || c.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls.certFile/keyFile: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// SASLMechanism returns the kafka-go mechanism for PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
func SASLMechanism(mechanism, user, pass string) (sasl.Mechanism, error) {
	if user == "" || pass == "" {
		return nil, errors.New("kafka sasl: username and password must both be set")
	}
	switch mechanism {
	case config.SASLPlain:
		return plain.Mechanism{Username: user, Password: pass}, nil
	case config.SASLScramSHA256:
		return scram.Mechanism(scram.SHA256, user, pass)
	case config.SASLScramSHA512:
		return scram.Mechanism(scram.SHA512, user, pass)
	}
	return nil, fmt.Errorf("kafka sasl.mechanism %q: accepted: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", mechanism)
}
