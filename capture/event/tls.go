package event

import "time"

// TLSClient is ECS `tls.client.*`: what the ClientHello and the client's certificate said.
type TLSClient struct {
	ServerName string `json:"server_name,omitempty"`
	// SupportedCiphers are the IANA names of the offered cipher suites, GREASE left out;
	// a suite without a name is written as 0x and four hex digits.
	SupportedCiphers []string `json:"supported_ciphers,omitempty"`
	JA3              string   `json:"ja3,omitempty"`
	JA4              string   `json:"ja4,omitempty"`
	// CertificateRequested says whether the server asked for a client certificate (mTLS),
	// CertificateSent whether the client sent one; both are known only while the handshake
	// is in clear (TLS 1.2 and older).
	CertificateRequested *bool `json:"certificate_requested,omitempty"`
	CertificateSent      *bool `json:"certificate_sent,omitempty"`
	TLSCertificate
}

// TLSServer is ECS `tls.server.*`: the ServerHello's fingerprint and the leaf certificate.
type TLSServer struct {
	JA3S string `json:"ja3s,omitempty"`
	TLSCertificate
}

// TLSCertificate is the leaf certificate of one side, in ECS's `tls.server.*` layout; its
// fields sit directly under tls.server (or tls.client).
type TLSCertificate struct {
	Subject   string    `json:"subject,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Hash      *TLSHash  `json:"hash,omitempty"`
	X509      *TLSX509  `json:"x509,omitempty"`
}

// TLSHash is `tls.*.hash.*` of a certificate (of its DER encoding).
type TLSHash struct {
	SHA256 string `json:"sha256"`
}

// TLSX509 is the part of ECS `x509.*` the tls event carries.
type TLSX509 struct {
	AlternativeNames []string `json:"alternative_names,omitempty"`
	SerialNumber     string   `json:"serial_number,omitempty"`
}
