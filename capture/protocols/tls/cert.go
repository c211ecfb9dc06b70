package tls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/cryptobyte"

	"github.com/audit-io/wire-audit/capture/event"
)

// parseCertificateMsg reads a TLS 1.2 Certificate message body (RFC 5246 7.4.2): the
// length-prefixed list of DER certificates. It returns the leaf's DER and the number of
// certificates; n is 0 for an empty list (a client declining to send one).
func parseCertificateMsg(body []byte) (leaf []byte, n int, err error) {
	s := cryptobyte.String(body)
	var list cryptobyte.String
	if !s.ReadUint24LengthPrefixed(&list) || !s.Empty() {
		return nil, 0, errMalformed
	}
	for !list.Empty() {
		var der cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&der) || len(der) == 0 {
			return nil, 0, errMalformed
		}
		if n == 0 {
			leaf = der
		}
		n++
	}
	return leaf, n, nil
}

// certCache keeps the fields of recently seen certificates by their SHA-256: a server shows
// the same leaf to every client, and crypto/x509 parsing is most of a TLS 1.2 handshake's
// cost. It is shared by the pipelines of all interfaces, hence the lock; the fields it hands
// out are shared by events, which nobody modifies after emit.
var certCache struct {
	sync.Mutex
	m map[[32]byte]event.TLSCertificate
}

// certCacheSize bounds certCache; when full it is emptied (certificates repeat in bursts).
const certCacheSize = 256

// certificateFields parses der with crypto/x509 into the event's certificate fields.
func certificateFields(der []byte) (event.TLSCertificate, error) {
	sum := sha256.Sum256(der)
	certCache.Lock()
	f, ok := certCache.m[sum]
	certCache.Unlock()
	if ok {
		return f, nil
	}
	f, err := parseCertificate(der, sum)
	if err != nil {
		return f, err
	}
	certCache.Lock()
	if certCache.m == nil || len(certCache.m) >= certCacheSize {
		certCache.m = make(map[[32]byte]event.TLSCertificate, certCacheSize)
	}
	certCache.m[sum] = f
	certCache.Unlock()
	return f, nil
}

func parseCertificate(der []byte, sum [32]byte) (event.TLSCertificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return event.TLSCertificate{}, fmt.Errorf("tls: certificate: %w", err)
	}
	out := event.TLSCertificate{
		Subject:   c.Subject.String(),
		Issuer:    c.Issuer.String(),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		Hash:      &event.TLSHash{SHA256: strings.ToUpper(hex.EncodeToString(sum[:]))},
	}
	x := &event.TLSX509{}
	x.AlternativeNames = append(x.AlternativeNames, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		x.AlternativeNames = append(x.AlternativeNames, ip.String())
	}
	x.AlternativeNames = append(x.AlternativeNames, c.EmailAddresses...)
	for _, u := range c.URIs {
		x.AlternativeNames = append(x.AlternativeNames, u.String())
	}
	if c.SerialNumber != nil {
		// The serial's bytes as DER holds them (a leading zero nibble kept), as tshark shows it.
		x.SerialNumber = strings.ToUpper(hex.EncodeToString(c.SerialNumber.Bytes()))
	}
	if len(x.AlternativeNames) > 0 || x.SerialNumber != "" {
		out.X509 = x
	}
	return out, nil
}
