package tls

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	gotls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var testConn = protocols.Conn{
	Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:443"),
	Transport: "tcp", CommunityID: "test",
}

// chunk is the bytes one side wrote, in order.
type chunk struct {
	dir  protocols.Dir
	data []byte
}

// connChunks returns the chunks of the nginx.pcap connection whose client port is port.
func connChunks(t testing.TB, file string, srvPort, cliPort uint16) []chunk {
	t.Helper()
	var out []chunk
	for _, s := range protocoltest.ReadSegments(t, "testdata/"+file, srvPort) {
		if s.Client.Port() == cliPort && len(s.Payload) > 0 {
			out = append(out, chunk{s.Dir, s.Payload})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no connection from port %d in %s", cliPort, file)
	}
	return out
}

// run feeds chunks to a new parser, each cut into pieces of at most piece bytes (0: whole),
// and returns the events.
func run(c protocols.Conn, chunks []chunk, piece int) []*event.Event {
	var sink protocoltest.Collector
	p := New(&c, nil, &sink)
	ts := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, ch := range chunks {
		d := ch.data
		for len(d) > 0 {
			n := len(d)
			if piece > 0 {
				n = min(n, piece)
			}
			ts = ts.Add(time.Microsecond)
			p.Data(ch.dir, d[:n], ts)
			d = d[n:]
		}
	}
	p.Close(ts)
	return sink.Events
}

func one(t *testing.T, evs []*event.Event) *event.Event {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	return evs[0]
}

// tlsPart is the event's tls part as JSON: what must not change with how bytes arrive.
func tlsPart(ev *event.Event) string {
	return string(event.AppendJSON(nil, &event.Event{Status: ev.Status, TLS: ev.TLS, Error: ev.Error}))
}

// TestSplitRecords feeds real connections one byte, three bytes and 100 bytes at a time:
// record headers and bodies split across segments give the same event as whole segments.
func TestSplitRecords(t *testing.T) {
	for _, c := range []struct {
		file     string
		srv, cli uint16
	}{{"nginx.pcap", nginxPort, 45024}, {"nginx.pcap", nginxPort, 45002}, {"mtls.pcap", mtlsPort, 36310}, {"nginx.pcap", nginxPort, 45098}} {
		chunks := connChunks(t, c.file, c.srv, c.cli)
		want := tlsPart(one(t, run(testConn, chunks, 0)))
		for _, piece := range []int{1, 3, 100} {
			if got := tlsPart(one(t, run(testConn, chunks, piece))); got != want {
				t.Errorf("%s %d in %d-byte pieces:\n got %s\nwant %s", c.file, c.cli, piece, got, want)
			}
		}
	}
}

// reRecord re-frames the handshake records of chunks into records of at most n body bytes
// each, as a sender may (RFC 8446 5.1): handshake messages then span records.
func reRecord(t *testing.T, chunks []chunk, dir protocols.Dir, n int) []chunk {
	t.Helper()
	var out []chunk
	for _, ch := range chunks {
		if ch.dir != dir {
			out = append(out, ch)
			continue
		}
		var b []byte
		d := ch.data
		for len(d) >= 5 {
			l := int(d[3])<<8 | int(d[4])
			if len(d) < 5+l {
				t.Fatalf("a record spans segments; pick another connection")
			}
			body := d[5 : 5+l]
			if d[0] != recordHandshake {
				b = append(b, d[:5+l]...)
			}
			for d[0] == recordHandshake && len(body) > 0 {
				k := min(n, len(body))
				b = append(b, d[0], d[1], d[2], byte(k>>8), byte(k))
				b = append(b, body[:k]...)
				body = body[k:]
			}
			d = d[5+l:]
		}
		out = append(out, chunk{ch.dir, b})
	}
	return out
}

// TestHandshakeAcrossRecords splits the ClientHello and the server's flight (its
// Certificate included) of a real TLS 1.2 connection into 7-byte records.
func TestHandshakeAcrossRecords(t *testing.T) {
	chunks := connChunks(t, "nginx.pcap", nginxPort, 45024)
	want := one(t, run(testConn, chunks, 0))
	if want.TLS.Server.Subject == "" || want.TLS.Client.JA3 == "" {
		t.Fatalf("the connection lacks what this test needs: %s", tlsPart(want))
	}
	// The client's first segment is the ClientHello alone; the server's first holds its
	// whole first flight.
	split := reRecord(t, chunks[:1], protocols.ToServer, 7)
	split = append(split, reRecord(t, chunks[1:2], protocols.ToClient, 7)...)
	split = append(split, chunks[2:]...)
	if got := tlsPart(one(t, run(testConn, split, 0))); got != tlsPart(want) {
		t.Errorf("in 7-byte records:\n got %s\nwant %s", got, tlsPart(want))
	}
}

// tap records what a crypto/tls client and server write to each other.
type tap struct {
	net.Conn
	dir    protocols.Dir
	mu     *sync.Mutex
	chunks *[]chunk
}

func (c *tap) Write(b []byte) (int, error) {
	c.mu.Lock()
	*c.chunks = append(*c.chunks, chunk{c.dir, bytes.Clone(b)})
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// goHandshake runs a Go crypto/tls handshake between cfg's client and server over a pipe
// and returns the bytes each wrote, in order.
func goHandshake(t *testing.T, srv, cli *gotls.Config) []chunk {
	t.Helper()
	// A loopback socket, not net.Pipe: both sides write at once (tickets, data), and a pipe
	// has no buffer.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var chunks []chunk
	sc := gotls.Server(&tap{a, protocols.ToClient, &mu, &chunks}, srv)
	cc := gotls.Client(&tap{b, protocols.ToServer, &mu, &chunks}, cli)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		err := sc.HandshakeContext(ctx)
		if err == nil {
			_, err = sc.Read(make([]byte, 1))
		}
		errc <- err
	}()
	if err := cc.HandshakeContext(ctx); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if _, err := cc.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server: %v", err)
	}
	_ = cc.Close()
	_ = sc.Close()
	return chunks
}

func selfSigned(t *testing.T) gotls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "hrr.test"},
		DNSNames: []string{"hrr.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return gotls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestHelloRetryRequest: the Go client sends a key share for X25519 only, the server accepts
// P-256 only and answers with a HelloRetryRequest; the event reports the ServerHello that
// followed and the fingerprint of the client's first hello.
func TestHelloRetryRequest(t *testing.T) {
	cert := selfSigned(t)
	srv := &gotls.Config{Certificates: []gotls.Certificate{cert}, CurvePreferences: []gotls.CurveID{gotls.CurveP256}, MinVersion: gotls.VersionTLS13}
	cli := &gotls.Config{ServerName: "hrr.test", InsecureSkipVerify: true, CurvePreferences: []gotls.CurveID{gotls.X25519, gotls.CurveP256}, NextProtos: []string{"h2"}}
	chunks := goHandshake(t, srv, cli)
	var sink protocoltest.Collector
	c := testConn
	p := New(&c, nil, &sink).(*Parser)
	ts := time.Now()
	hellos := 0
	for _, ch := range chunks {
		p.Data(ch.dir, ch.data, ts)
		if ch.dir == protocols.ToServer && ch.data[0] == recordHandshake && ch.data[5] == typeClientHello {
			hellos++
		}
	}
	p.Close(ts)
	if hellos != 2 || !p.retry {
		t.Fatalf("no HelloRetryRequest happened: %d ClientHellos, retry %v", hellos, p.retry)
	}
	ev := one(t, sink.Events)
	tl := ev.TLS
	if tl.Version != "1.3" || ev.Status != event.StatusOK || !*tl.Established || tl.Client.ServerName != "hrr.test" {
		t.Errorf("after a HelloRetryRequest: %s", tlsPart(ev))
	}
	first, err := parseClientHello(chunks[0].data[9:])
	if err != nil {
		t.Fatal(err)
	}
	if tl.Client.JA3 != first.ja3() {
		t.Errorf("ja3 %s is not the first hello's %s", tl.Client.JA3, first.ja3())
	}
}

// TestSSLv2Hello: a client opening with an SSLv2-compatible CLIENT-HELLO (RFC 5246 E.2; no
// Debian client sends one any more, so its bytes are written here) and a server answering
// with a real TLS 1.2 ServerHello flight. The connection is TLS with the server's fields; the
// v2 hello has no SNI or extensions, so no client fingerprint is invented.
func TestSSLv2Hello(t *testing.T) {
	real := connChunks(t, "nginx.pcap", nginxPort, 45024)
	// CLIENT-HELLO: msg_type 1, version 3.3, cipher_spec_length 6, session_id_length 0,
	// challenge_length 16; two V2 cipher specs; 16 challenge bytes.
	body := []byte{1, 3, 3, 0, 6, 0, 0, 0, 16, 0x00, 0xc0, 0x2c, 0x00, 0x00, 0x2f}
	body = append(body, bytes.Repeat([]byte{0xab}, 16)...)
	v2 := append([]byte{0x80 | byte(len(body)>>8), byte(len(body))}, body...)
	if !Detect(v2, protocols.ToServer) {
		t.Fatal("Detect does not take an SSLv2-compatible hello")
	}
	chunks := []chunk{{protocols.ToServer, v2}}
	chunks = append(chunks, real[1:]...)
	ev := one(t, run(testConn, chunks, 0))
	tl := ev.TLS
	if ev.Type != event.TypeTLS || tl.Version != "1.2" || tl.Server == nil || tl.Server.JA3S == "" {
		t.Fatalf("sslv2 hello: %s", tlsPart(ev))
	}
	if c := tl.Client; c != nil && (c.JA3 != "" || c.JA4 != "" || c.ServerName != "" || len(c.SupportedCiphers) > 0) {
		t.Errorf("client fields invented from an SSLv2 hello: %s", tlsPart(ev))
	}
}

// TestMidStream: capture that begins after the handshake sees only records. The connection
// is reported as TLS, with nothing it did not see: no version, fingerprint or outcome.
func TestMidStream(t *testing.T) {
	chunks := connChunks(t, "nginx.pcap", nginxPort, 45002) // curl, a request and a response
	c := testConn
	c.MidStream = true
	// From the first application data record on (the client's request).
	var late []chunk
	for i, ch := range chunks {
		if ch.data[0] == recordApplicationData {
			late = chunks[i:]
			break
		}
	}
	ev := one(t, run(c, late, 0))
	tl := ev.TLS
	if ev.Status != "" || ev.Error != nil || tl.Established != nil || tl.Version != "" || tl.Client != nil || tl.Server != nil || !tl.Encrypted {
		t.Errorf("mid-stream: %s", tlsPart(ev))
	}
	// Starting inside a record: nothing can be told; nothing is reported.
	cut := append([]chunk{{late[0].dir, late[0].data[3:]}}, late[1:]...)
	if evs := run(c, cut, 0); len(evs) != 0 {
		t.Errorf("capture starting inside a record: %s", tlsPart(evs[0]))
	}
}

// TestGarbage: bytes on a TLS port that are not TLS give no event, whatever they look like.
func TestGarbage(t *testing.T) {
	for _, tc := range []struct {
		name string
		cli  string
	}{
		{"http", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"zeros", "\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"record header then junk", "\x16\x03\x01\x00\x08\x01\x00\x00\x04junk"},
		{"application data first", "\x17\x03\x03\x00\x02hi"},
		{"bad length", "\x16\x03\x01\xff\xff\x01"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chunks := []chunk{{protocols.ToServer, []byte(tc.cli)}, {protocols.ToClient, []byte("HTTP/1.1 400 Bad Request\r\n\r\n")}}
			if evs := run(testConn, chunks, 0); len(evs) != 0 {
				t.Errorf("event for garbage: %s", tlsPart(evs[0]))
			}
		})
	}
}

// TestGap: a gap in the server's flight loses the certificate and the outcome; the event
// says what the client's hello said and leaves the rest unknown, never an error.
func TestGap(t *testing.T) {
	chunks := connChunks(t, "nginx.pcap", nginxPort, 45024)
	var sink protocoltest.Collector
	c := testConn
	p := New(&c, nil, &sink)
	ts := time.Now()
	p.Data(chunks[0].dir, chunks[0].data, ts)
	srv := chunks[1].data
	p.Data(protocols.ToClient, srv[:100], ts)
	p.Gap(protocols.ToClient, 200, ts)
	p.Data(protocols.ToClient, srv[300:], ts)
	for _, ch := range chunks[2:] {
		p.Data(ch.dir, ch.data, ts)
	}
	p.Close(ts)
	ev := one(t, sink.Events)
	tl := ev.TLS
	if ev.Status != "" || tl.Established != nil || tl.Client == nil || tl.Client.JA3 == "" || tl.Server == nil || tl.Server.Subject != "" || tl.Client.CertificateRequested != nil {
		t.Errorf("after a gap: %s", tlsPart(ev))
	}
}

// TestUnfinished: a connection that closes after the hellos, with no alert, is an error: the
// handshake did not finish.
func TestUnfinished(t *testing.T) {
	chunks := connChunks(t, "nginx.pcap", nginxPort, 45024)
	ev := one(t, run(testConn, chunks[:2], 0)) // the ClientHello and the server's first flight
	if ev.Status != event.StatusError || ev.Error == nil || ev.Error.Message != "handshake did not finish" || *ev.TLS.Established || ev.TLS.Version != "1.2" {
		t.Errorf("unfinished: %s", tlsPart(ev))
	}
}
