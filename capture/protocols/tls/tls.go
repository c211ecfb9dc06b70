// Package tls reports the handshake of a TLS connection as one `type: tls` event: the
// negotiated version, cipher and ALPN, the SNI, JA3, JA4 and JA3S fingerprints, the server's
// leaf certificate while it travels in clear (TLS 1.2 and older; TLS 1.3 encrypts it), client
// certificates, and how the handshake ended. Nothing is decrypted.
//
// Records are framed per direction; handshake messages are assembled across records (bounded)
// and parsed with golang.org/x/crypto/cryptobyte, certificates with crypto/x509. A gap drops
// what a direction was assembling and stops reading it: what it would have said stays
// unknown.
package tls

import (
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// Record content types and handshake message types.
const (
	recordChangeCipherSpec = 20
	recordAlert            = 21
	recordHandshake        = 22
	recordApplicationData  = 23
	recordHeartbeat        = 24

	typeClientHello        = 1
	typeServerHello        = 2
	typeCertificate        = 11
	typeServerKeyExchange  = 12
	typeCertificateRequest = 13
	typeServerHelloDone    = 14

	// maxRecord is the largest record body accepted (RFC 5246 6.2.3: 2^14+2048).
	maxRecord = 1<<14 + 2048
	// maxHandshake bounds one handshake message kept for parsing: a certificate chain fits.
	maxHandshake = 256 << 10
	// encryptedAlertLen is the length of a TLS 1.3 protected record holding only an alert:
	// two alert bytes, the inner content type and a 16-byte AEAD tag.
	encryptedAlertLen = 2 + 1 + 16
)

// Parser decodes one connection. It is a protocols.StreamParser.
type Parser struct {
	conn *protocols.Conn
	sink protocols.Sink
	// requested marks a connection upgraded in-protocol (MySQL, PostgreSQL).
	requested bool

	half  [2]half
	start time.Time
	last  time.Time
	bytes [2]uint64
	// done: the event went out, or the bytes are not TLS; nothing more is read.
	done bool
	// records counts the valid records seen; a connection without one is not reported.
	records int

	ch        *clientHello
	sslv2     bool // the client opened with an SSLv2-compatible hello
	sh        *serverHello
	version   uint16 // negotiated, once the ServerHello is read
	retry     bool   // a HelloRetryRequest came
	srvCert   bool   // the server sent a Certificate, ServerKeyExchange or ServerHelloDone
	helloDone bool   // the server's ServerHelloDone (TLS 1.2 and older) came
	resumed   *bool
	certReq   *bool
	certSent  *bool
	server    event.TLSCertificate
	client    event.TLSCertificate
}

// half frames the records of one direction.
type half struct {
	hdr  [5]byte
	hdrN int
	typ  byte
	left int // body bytes of the current record still to come
	// body collects a short record's body (alerts); hs the handshake message being assembled.
	body   []byte
	hs     []byte
	hsSkip int // bytes of an over-long handshake message still to drop
	// protected: this direction's records are encrypted from here on.
	protected bool
	ccs       bool // sent ChangeCipherSpec (TLS 1.2 and older)
	finished  bool // sent its Finished (seen as the first record after its CCS)
	// lost: a gap or a framing error; nothing more is read from this direction.
	lost bool
	// records counts the whole records read.
	records int
}

// New returns the parser of connection c. It is a protocols.Factory.
func New(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	return &Parser{conn: c, sink: sink}
}

// NewUpgraded returns the parser of the TLS that follows an in-protocol request for it
// (MySQL's SSL request, PostgreSQL's SSLRequest): its event says tls.requested.
func NewUpgraded(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
	return &Parser{conn: c, sink: sink, requested: true}
}

// Data implements protocols.StreamParser.
func (p *Parser) Data(dir protocols.Dir, data []byte, ts time.Time) {
	if p.done || dir > protocols.ToClient || len(data) == 0 {
		return
	}
	if p.start.IsZero() {
		p.start = ts
	}
	p.last = ts
	h := &p.half[dir]
	if h.lost {
		return
	}
	p.bytes[dir] += uint64(len(data))
	if dir == protocols.ToServer && p.records == 0 && h.hdrN == 0 && h.left == 0 && !p.sslv2 && !p.conn.MidStream && isSSLv2Hello(data) {
		p.sslv2Hello(h, data)
		return
	}
	for len(data) > 0 && !p.done && !h.lost {
		if h.left == 0 {
			n := copy(h.hdr[h.hdrN:], data)
			h.hdrN += n
			data = data[n:]
			if h.hdrN < 5 {
				return
			}
			h.hdrN = 0
			if !validHeader(h.hdr[:]) {
				p.badFraming(dir)
				return
			}
			p.records++
			h.typ = h.hdr[0]
			if p.records == 1 && h.typ != recordHandshake && !p.conn.MidStream {
				p.done = true // a connection seen from its start opens with a hello
				return
			}
			h.left = int(h.hdr[3])<<8 | int(h.hdr[4])
			h.body = h.body[:0]
			p.startRecord(dir, h)
			continue
		}
		n := min(h.left, len(data))
		p.recordBytes(dir, h, data[:n])
		h.left -= n
		data = data[n:]
		if h.left == 0 {
			h.records++
			p.endRecord(dir, h, ts)
		}
	}
}

// sslv2Hello skips an SSLv2-compatible CLIENT-HELLO: the connection is TLS, but the hello has
// none of the fields the event reports, so none is taken from it.
func (p *Parser) sslv2Hello(h *half, data []byte) {
	n := int(data[0]&0x7f)<<8 | int(data[1])
	p.sslv2 = true
	p.records++
	if rest := data[min(len(data), 2+n):]; len(rest) > 0 {
		p.Data(protocols.ToServer, rest, p.last)
		p.bytes[protocols.ToServer] -= uint64(len(rest))
	} else if len(data) < 2+n {
		h.typ, h.left = 0, 2+n-len(data) // the rest of the hello is skipped as a record body
	}
}

// badFraming handles bytes that are not a TLS record: at the start of a connection they mean
// it is not TLS, and nothing is reported; later, the direction is given up.
func (p *Parser) badFraming(dir protocols.Dir) {
	if p.records == 0 {
		p.done = true
		return
	}
	p.loseHalf(dir)
}

// notTLS gives up a connection whose hello does not parse: bytes that only looked like TLS
// record headers. Nothing is reported, unless the other side's hello already showed TLS.
func (p *Parser) notTLS() {
	if p.ch == nil && p.sh == nil && !p.sslv2 {
		p.done = true
		return
	}
	p.loseHalf(protocols.ToServer)
	p.loseHalf(protocols.ToClient)
}

func (p *Parser) loseHalf(dir protocols.Dir) {
	h := &p.half[dir]
	h.lost, h.hs, h.body, h.left, h.hdrN = true, nil, nil, 0, 0
}

func (p *Parser) startRecord(dir protocols.Dir, h *half) {
	switch h.typ {
	case recordChangeCipherSpec:
		if p.version == versionTLS13 || p.sh == nil && !p.conn.MidStream {
			return // TLS 1.3 middlebox compatibility (after a HelloRetryRequest too): means nothing
		}
		h.ccs = true
		if dir == protocols.ToClient && !p.srvCert && p.sh != nil && p.resumed == nil {
			t := true // an abbreviated handshake: the session was resumed
			p.resumed = &t
		}
	case recordApplicationData:
		if p.version == versionTLS13 && dir == protocols.ToServer && !h.finished && p.sh != nil {
			// The client's first protected record is its Finished (with its certificate
			// before it when asked), unless it is an alert: the only record that short.
			h.finished = true
			if int(h.hdr[3])<<8|int(h.hdr[4]) == encryptedAlertLen {
				p.fail("encrypted alert from the client")
				return
			}
			p.emitEstablished()
		}
	}
}

// recordBytes takes the body bytes b of the current record of dir.
func (p *Parser) recordBytes(dir protocols.Dir, h *half, b []byte) {
	switch {
	case h.typ == recordHandshake && !h.protected:
		p.handshakeBytes(dir, h, b)
	case h.typ == recordAlert && !h.protected:
		if len(h.body) < 2 {
			h.body = append(h.body, b[:min(len(b), 2-len(h.body))]...)
		}
	}
}

func (p *Parser) endRecord(dir protocols.Dir, h *half, ts time.Time) {
	switch h.typ {
	case recordChangeCipherSpec:
		if h.ccs {
			h.protected = true
		}
	case recordAlert:
		if h.protected {
			if !p.established() && !p.half[0].lost && !p.half[1].lost {
				p.fail("encrypted alert from the " + side(dir))
			}
			return
		}
		if len(h.body) == 2 && (h.body[0] == 2 || h.body[1] != 0 && h.body[1] != 90 && !p.established()) {
			p.fail(alertName(h.body[1]) + " alert from the " + side(dir))
		}
	case recordHandshake:
		if h.protected && h.ccs && !h.finished {
			h.finished = true // the first record after ChangeCipherSpec is Finished
			if p.half[0].finished && p.half[1].finished {
				p.emitEstablished()
			}
		}
	}
}

// handshakeBytes assembles handshake messages from record bodies and handles each whole one.
func (p *Parser) handshakeBytes(dir protocols.Dir, h *half, b []byte) {
	for len(b) > 0 && !h.lost && !h.protected && !p.done {
		if h.hsSkip > 0 {
			n := min(h.hsSkip, len(b))
			h.hsSkip -= n
			b = b[n:]
			continue
		}
		if len(h.hs) < 4 {
			n := min(4-len(h.hs), len(b))
			h.hs = append(h.hs, b[:n]...)
			b = b[n:]
			if len(h.hs) < 4 {
				return
			}
		}
		need := 4 + (int(h.hs[1])<<16 | int(h.hs[2])<<8 | int(h.hs[3]))
		if need > maxHandshake {
			// Too long to keep: skipped, and what it would have said stays unknown.
			h.hsSkip = need - len(h.hs)
			h.hs = h.hs[:0]
			continue
		}
		n := min(need-len(h.hs), len(b))
		h.hs = append(h.hs, b[:n]...)
		b = b[n:]
		if len(h.hs) == need {
			p.message(dir, h.hs[0], h.hs[4:])
			h.hs = h.hs[:0]
			if cap(h.hs) > 16<<10 {
				h.hs = nil
			}
		}
	}
}

// message handles one whole handshake message of type typ.
func (p *Parser) message(dir protocols.Dir, typ byte, body []byte) {
	if dir == protocols.ToServer {
		switch typ {
		case typeClientHello:
			if p.ch != nil || p.sslv2 {
				return // the second hello after a HelloRetryRequest: the first one speaks
			}
			ch, err := parseClientHello(body)
			if err != nil {
				p.notTLS()
				return
			}
			p.ch = ch
		case typeCertificate:
			if p.version == versionTLS13 {
				return
			}
			leaf, n, err := parseCertificateMsg(body)
			if err != nil {
				return
			}
			sent := n > 0
			p.certSent = &sent
			if sent {
				if c, err := certificateFields(leaf); err == nil {
					p.client = c
				}
			}
		}
		return
	}
	switch typ {
	case typeServerHello:
		sh, err := parseServerHello(body)
		if err != nil {
			p.notTLS()
			return
		}
		if sh.retry() {
			p.retry = true
			return
		}
		p.sh, p.version = sh, sh.negotiated()
		if p.version == versionTLS13 {
			r := sh.psk
			p.resumed = &r
			// What follows is encrypted, but as application_data records: an alert or
			// handshake record in TLS 1.3 is always in clear (a client that rejects the
			// certificate alerts before it has keys).
		}
	case typeCertificate:
		p.serverMessage()
		if leaf, n, err := parseCertificateMsg(body); err == nil && n > 0 {
			if c, err := certificateFields(leaf); err == nil {
				p.server = c
			}
		}
	case typeCertificateRequest:
		p.serverMessage()
		t := true
		p.certReq = &t
	case typeServerKeyExchange:
		p.serverMessage()
	case typeServerHelloDone:
		p.serverMessage()
		p.helloDone = true
		if p.certReq == nil {
			f := false
			p.certReq = &f
		}
	}
}

// serverMessage notes a message of a full handshake from the server (TLS 1.2 and older).
func (p *Parser) serverMessage() {
	p.srvCert = true
	if p.sh != nil && p.resumed == nil {
		f := false
		p.resumed = &f
	}
}

func (p *Parser) established() bool {
	return p.half[0].finished && p.half[1].finished && p.version != versionTLS13 ||
		p.version == versionTLS13 && p.half[protocols.ToServer].finished
}

func side(dir protocols.Dir) string {
	if dir == protocols.ToServer {
		return "client"
	}
	return "server"
}

// Gap implements protocols.StreamParser: the direction's framing is lost.
func (p *Parser) Gap(dir protocols.Dir, n int, ts time.Time) {
	if p.done || dir > protocols.ToClient {
		return
	}
	p.loseHalf(dir)
}

// Close implements protocols.StreamParser: a connection whose handshake was seen to start but
// not to finish is an error; one whose outcome the capture could not show says nothing of it.
func (p *Parser) Close(ts time.Time) {
	if p.done || !p.isTLS() {
		p.done = true
		return
	}
	lost := p.half[0].lost || p.half[1].lost
	if (p.ch != nil || p.sslv2 || p.sh != nil) && !lost {
		p.fail("handshake did not finish")
		return
	}
	p.emit(nil, "")
}

// isTLS says whether the connection showed enough to be reported as TLS: a hello, or, when
// capture began after the handshake, whole records from both sides.
func (p *Parser) isTLS() bool {
	return p.ch != nil || p.sh != nil || p.sslv2 || p.conn.MidStream && p.half[0].records > 0 && p.half[1].records > 0
}

func (p *Parser) fail(msg string) {
	f := false
	p.emit(&f, msg)
}

func (p *Parser) emitEstablished() {
	t := true
	p.emit(&t, "")
}

// emit sends the connection's one event; established is nil when unknown.
func (p *Parser) emit(established *bool, errMsg string) {
	p.done = true
	p.half[0].hs, p.half[1].hs, p.half[0].body, p.half[1].body = nil, nil, nil, nil
	ev := protocols.NewEvent(p.conn, event.TypeTLS, p.start)
	t := &event.TLS{Requested: p.requested, Encrypted: true, Established: established}
	ev.TLS = t
	switch {
	case errMsg != "":
		ev.Status = event.StatusError
		ev.Error = &event.Error{Message: errMsg}
	case established != nil:
		ev.Status = event.StatusOK
	}
	if sh := p.sh; sh != nil {
		t.Version, t.VersionProtocol, _ = versionName(p.version)
		t.Cipher = cipherName(sh.cipher)
		t.NextProtocol = sh.alpn
		t.Resumed = p.resumed
		t.Server = &event.TLSServer{JA3S: sh.ja3s(), TLSCertificate: p.server}
	}
	if ch := p.ch; ch != nil {
		c := &event.TLSClient{ServerName: ch.serverName, JA3: ch.ja3(), JA4: ch.ja4()}
		c.SupportedCiphers = make([]string, 0, len(ch.ciphers))
		for _, s := range ch.ciphers {
			if !isGREASE(s) {
				c.SupportedCiphers = append(c.SupportedCiphers, cipherName(s))
			}
		}
		t.Client = c
	}
	if p.certReq != nil || p.certSent != nil || p.client.Subject != "" {
		if t.Client == nil {
			t.Client = &event.TLSClient{}
		}
		t.Client.CertificateRequested, t.Client.CertificateSent, t.Client.TLSCertificate = p.certReq, p.certSent, p.client
	}
	end := p.last
	if end.IsZero() {
		end = p.start
	}
	protocols.Finish(ev, end, p.bytes[protocols.ToServer], p.bytes[protocols.ToClient])
	p.sink.Emit(ev)
}
