package mongodb

import (
	"bytes"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// maxUser bounds the user name taken from an authentication exchange.
const maxUser = 256

// authUser takes the user name from an authentication command (or a hello's
// speculativeAuthenticate document) when its mechanism shows it: the first SCRAM message
// ("n,,n=user,r=nonce"), the PLAIN authentication identity, or an X.509 authenticate's user.
// The rest of the payload (a SCRAM nonce, a PLAIN password) is never kept.
func (p *parser) authUser(doc bsoncore.Document) {
	mech := ""
	if v, ok := lookup(doc, "mechanism"); ok {
		mech, _ = v.StringValueOK()
	}
	var name string
	switch {
	case strings.HasPrefix(mech, "SCRAM-"):
		name = scramUser(payload(doc))
	case mech == "PLAIN":
		// authzid NUL authcid NUL password
		parts := bytes.SplitN(payload(doc), []byte{0}, 3)
		if len(parts) == 3 {
			name = string(parts[1])
		}
	case mech == "MONGODB-X509":
		if v, ok := lookup(doc, "user"); ok {
			name, _ = v.StringValueOK()
			name = strings.Clone(name)
		}
	}
	if name != "" && len(name) <= maxUser {
		p.user = name
	}
}

// payload is the binary payload of a SASL command.
func payload(doc bsoncore.Document) []byte {
	v, ok := lookup(doc, "payload")
	if !ok {
		return nil
	}
	if _, data, ok := v.BinaryOK(); ok {
		return data
	}
	if s, ok := v.StringValueOK(); ok {
		return []byte(s)
	}
	return nil
}

// scramUser reads the user of a SCRAM client-first message (RFC 5802): a GS2 header, then
// "n=<saslname>,r=...", with "=2C" and "=3D" standing for "," and "=".
func scramUser(b []byte) string {
	// GS2 header: cbind flag, authzid, then the bare message.
	for range 2 {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			return ""
		}
		b = b[i+1:]
	}
	if !bytes.HasPrefix(b, []byte("n=")) {
		return ""
	}
	b = b[2:]
	if i := bytes.IndexByte(b, ','); i >= 0 {
		b = b[:i]
	}
	s := strings.ReplaceAll(string(b), "=2C", ",")
	return strings.ReplaceAll(s, "=3D", "=")
}
