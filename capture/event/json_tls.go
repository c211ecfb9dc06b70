package event

// JSON of the TLS handshake fields; see AppendJSON.

func (t *TLS) appendHandshake(b []byte) []byte {
	b = optString(b, `,"version":`, t.Version)
	b = optString(b, `,"version_protocol":`, t.VersionProtocol)
	b = optString(b, `,"cipher":`, t.Cipher)
	b = optString(b, `,"next_protocol":`, t.NextProtocol)
	b = optBool(b, `,"established":`, t.Established)
	b = optBool(b, `,"resumed":`, t.Resumed)
	if c := t.Client; c != nil {
		b = append(b, `,"client":{`...)
		open := len(b)
		b = optString(b, `,"server_name":`, c.ServerName)
		b = optList(b, `,"supported_ciphers":[`, c.SupportedCiphers, func(b []byte, s *string) []byte { return appendString(b, *s) })
		b = optString(b, `,"ja3":`, c.JA3)
		b = optString(b, `,"ja4":`, c.JA4)
		b = optBool(b, `,"certificate_requested":`, c.CertificateRequested)
		b = optBool(b, `,"certificate_sent":`, c.CertificateSent)
		b = c.appendJSON(b)
		b = closeObject(b, open)
	}
	if s := t.Server; s != nil {
		b = append(b, `,"server":{`...)
		open := len(b)
		b = optString(b, `,"ja3s":`, s.JA3S)
		b = s.appendJSON(b)
		b = closeObject(b, open)
	}
	return b
}

// appendJSON writes the fields of c, each with a leading comma (closeObject drops the first).
func (c *TLSCertificate) appendJSON(b []byte) []byte {
	b = optString(b, `,"subject":`, c.Subject)
	b = optString(b, `,"issuer":`, c.Issuer)
	if !c.NotBefore.IsZero() {
		b = append(b, `,"not_before":`...)
		b = appendTime(b, c.NotBefore)
	}
	if !c.NotAfter.IsZero() {
		b = append(b, `,"not_after":`...)
		b = appendTime(b, c.NotAfter)
	}
	if c.Hash != nil {
		b = append(b, `,"hash":{"sha256":`...)
		b = appendString(b, c.Hash.SHA256)
		b = append(b, '}')
	}
	if x := c.X509; x != nil {
		b = append(b, `,"x509":{`...)
		open := len(b)
		b = optList(b, `,"alternative_names":[`, x.AlternativeNames, func(b []byte, s *string) []byte { return appendString(b, *s) })
		b = optString(b, `,"serial_number":`, x.SerialNumber)
		b = closeObject(b, open)
	}
	return b
}

// closeObject ends an object opened just before open whose fields were each written with a
// leading comma: the first comma goes.
func closeObject(b []byte, open int) []byte {
	if len(b) > open {
		copy(b[open:], b[open+1:])
		b = b[:len(b)-1]
	}
	return append(b, '}')
}

// optBool writes key and *v unless v is nil (omitempty on a pointer).
func optBool(b []byte, key string, v *bool) []byte {
	if v == nil {
		return b
	}
	b = append(b, key...)
	return appendBool(b, *v)
}
