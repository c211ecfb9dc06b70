package tls

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
	"github.com/audit-io/wire-audit/internal/testenv"
)

// Server ports of testdata/capture.sh.
const (
	nginxPort = 18443
	mtlsPort  = 18444
)

func replayFile(t testing.TB, name string, port uint16) []*event.Event {
	t.Helper()
	return protocoltest.Replay(protocoltest.ReadSegments(t, filepath.Join("testdata", name), port), New, nil)
}

// byClientPort indexes events by the client's port, failing on two events for one connection.
func byClientPort(t *testing.T, evs []*event.Event) map[string]*event.Event {
	t.Helper()
	m := map[string]*event.Event{}
	for _, ev := range evs {
		k := itoa(ev.Client.Port)
		if m[k] != nil {
			t.Fatalf("two events for the connection from port %s", k)
		}
		m[k] = ev
	}
	return m
}

func itoa(v uint16) string { return strconv.Itoa(int(v)) }

// tsharkConn is what tshark dissects from one connection's handshake.
type tsharkConn struct {
	sni, ja3, ja3s, cipher, alpn, version string
	alert                                 string
	leafSHA256, serial                    string
	dnsNames                              []string
	clientCertSHA256                      string
}

// tsharkConns runs tshark on the capture and returns its view per client port.
func tsharkConns(t *testing.T, file string, port uint16) map[string]*tsharkConn {
	return tsharkConnsAs(t, "testdata/"+file, port, "tls")
}

// tsharkConnsAs is tsharkConns on the capture at path with port decoded as proto.
func tsharkConnsAs(t *testing.T, path string, port uint16, proto string) map[string]*tsharkConn {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		testenv.Missing(t, "tshark not installed")
	}
	fields := []string{"tcp.srcport", "tcp.dstport", "tls.handshake.type", "tls.handshake.extensions_server_name",
		"tls.handshake.ja3", "tls.handshake.ja3s", "tls.handshake.ciphersuite", "tls.handshake.extensions_alpn_str",
		"tls.handshake.extensions.supported_version", "tls.handshake.version", "tls.alert_message.desc",
		"tls.handshake.certificate", "x509af.serialNumber", "x509ce.dNSName"}
	args := []string{"-n", "-r", path, "-d", "tcp.port==" + itoa(port) + "," + proto, "-Y", "tls.handshake or tls.alert_message", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	conns := map[string]*tsharkConn{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		for len(f) < len(fields) {
			f = append(f, "")
		}
		toServer := f[1] == itoa(port)
		cp := f[0]
		if !toServer {
			cp = f[1]
		}
		c := conns[cp]
		if c == nil {
			c = &tsharkConn{}
			conns[cp] = c
		}
		types := strings.Split(f[2], "|")
		if f[10] != "" && c.alert == "" {
			c.alert = f[10]
		}
		if toServer {
			if slices.Contains(types, "1") && c.ja3 == "" {
				c.sni, c.ja3 = f[3], f[4]
			}
			if slices.Contains(types, "11") && f[11] != "" {
				c.clientCertSHA256 = certHash(t, strings.Split(f[11], "|")[0])
			}
			continue
		}
		if slices.Contains(types, "2") {
			c.ja3s, c.cipher, c.alpn = f[5], f[6], f[7]
			c.version = f[9]
			if f[8] != "" {
				c.version = f[8]
			}
		}
		if slices.Contains(types, "11") && f[11] != "" {
			c.leafSHA256 = certHash(t, strings.Split(f[11], "|")[0])
			c.serial = strings.Split(f[12], "|")[0]
			c.dnsNames = strings.Split(f[13], "|")
		}
	}
	return conns
}

func certHash(t *testing.T, hexDER string) string {
	der, err := hex.DecodeString(strings.ReplaceAll(hexDER, ":", ""))
	if err != nil {
		t.Fatalf("tshark certificate %q: %v", hexDER[:min(len(hexDER), 20)], err)
	}
	sum := sha256.Sum256(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// TestPcapsAgainstTshark checks every connection of the real captures (testdata/capture.sh)
// against tshark's dissection: SNI, JA3, JA3S, cipher, negotiated version, ALPN, the server's
// leaf (SHA-256 of its DER, serial, DNS names), the client certificate, and the alert.
func TestPcapsAgainstTshark(t *testing.T) {
	for _, f := range []struct {
		name  string
		port  uint16
		conns int // TLS connections in the capture (nginx.pcap also holds one plaintext one)
	}{{"nginx.pcap", nginxPort, 14}, {"mtls.pcap", mtlsPort, 3}} {
		t.Run(f.name, func(t *testing.T) {
			evs := byClientPort(t, replayFile(t, f.name, f.port))
			want := tsharkConns(t, f.name, f.port)
			if len(want) != f.conns || len(evs) != f.conns {
				t.Fatalf("tshark found %d TLS connections, the parser %d events; the capture has %d", len(want), len(evs), f.conns)
			}
			for port, w := range want {
				ev := evs[port]
				if ev == nil {
					t.Errorf("%s: no event", port)
					continue
				}
				checkAgainst(t, port, ev, w)
			}
		})
	}
}

func checkAgainst(t *testing.T, port string, ev *event.Event, w *tsharkConn) {
	t.Helper()
	tl := ev.TLS
	if ev.Type != event.TypeTLS || tl == nil || tl.Client == nil || tl.Server == nil {
		t.Fatalf("%s: %s", port, event.AppendJSON(nil, ev))
	}
	c, s := tl.Client, tl.Server
	cipher, _ := strconv.ParseUint(strings.TrimPrefix(w.cipher, "0x"), 16, 16)
	ver, _ := strconv.ParseUint(strings.TrimPrefix(w.version, "0x"), 16, 16)
	wantVer, _, _ := versionName(uint16(ver))
	pairs := [][3]string{
		{"server_name", c.ServerName, w.sni},
		{"ja3", c.JA3, w.ja3},
		{"ja3s", s.JA3S, w.ja3s},
		{"cipher", tl.Cipher, cipherName(uint16(cipher))},
		{"version", tl.Version, wantVer},
		{"next_protocol", tl.NextProtocol, w.alpn},
		{"client certificate", hashOf(c.Hash), w.clientCertSHA256},
		{"server certificate", hashOf(s.Hash), w.leafSHA256},
	}
	if w.leafSHA256 != "" {
		pairs = append(pairs, [3]string{"serial", strings.ToLower(s.X509.SerialNumber), w.serial})
		for _, n := range w.dnsNames {
			if !slices.Contains(s.X509.AlternativeNames, n) {
				t.Errorf("%s: alternative_names %q lack %q", port, s.X509.AlternativeNames, n)
			}
		}
	}
	for _, p := range pairs {
		if p[1] != p[2] {
			t.Errorf("%s: %s %q, tshark %q", port, p[0], p[1], p[2])
		}
	}
	if w.alert != "" {
		d, _ := strconv.Atoi(w.alert)
		if ev.Status != event.StatusError || ev.Error == nil || !strings.HasPrefix(ev.Error.Message, alertName(uint8(d))+" alert") || *tl.Established {
			t.Errorf("%s: tshark saw alert %s; event status %q error %+v", port, w.alert, ev.Status, ev.Error)
		}
	} else if ev.Status != event.StatusOK || tl.Established == nil || !*tl.Established {
		t.Errorf("%s: no alert, but status %q established %v", port, ev.Status, tl.Established)
	}
}

func hashOf(h *event.TLSHash) string {
	if h == nil {
		return ""
	}
	return h.SHA256
}

// TestPcapOutcomes checks, in capture order, what tshark does not say: resumption, whether a
// client certificate was asked for and sent, and JA4 (tshark 4.0 has none; the values were
// computed by hand from tshark's cipher, extension and signature algorithm lists, see
// ja4_test.go).
func TestPcapOutcomes(t *testing.T) {
	type want struct {
		status           string
		resumed          *bool
		certReq, certSnt *bool
		ja4              string
		noSNI            bool
	}
	yes, no := new(bool), new(bool)
	*yes = true
	cases := map[string][]want{
		"nginx.pcap": {
			{status: "OK", resumed: no, ja4: "t13d3112h1_e8f1e7e78f70_b26ce05bbdd6"}, // curl --http1.1
			{status: "OK", resumed: no, ja4: "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"}, // curl --http2
			{status: "OK", resumed: no, certReq: no},                                 // s_client -tls1_2
			{status: "OK", resumed: no},                                              // -tls1_3 -alpn
			{status: "OK", resumed: no, certReq: no, noSNI: true, ja4: "t12i020600_6a7d5ebe9983_e7e480e5a997"},
			{status: "OK", resumed: no, certReq: no},                                 // mismatched SNI
			{status: "OK", resumed: no, certReq: no},                                 // -sess_out, TLS 1.2
			{status: "OK", resumed: yes},                                             // -sess_in, TLS 1.2
			{status: "OK", resumed: no},                                              // -sess_out, TLS 1.3
			{status: "OK", resumed: yes},                                             // -sess_in, TLS 1.3 (PSK)
			{status: "OK", resumed: no},                                              // python3 ssl
			{status: "OK", resumed: no, ja4: "t13d1312h1_f57a46bbacb6_ab7e3b40a677"}, // Go crypto/tls
			{status: "Error", resumed: no, certReq: no},                              // curl rejects, TLS 1.2
			{status: "Error", resumed: no},                                           // curl rejects, TLS 1.3
		},
		"mtls.pcap": {
			{status: "OK", resumed: no, certReq: yes, certSnt: yes},
			{status: "Error", resumed: no, certReq: yes, certSnt: no},
			{status: "OK", resumed: no}, // TLS 1.3: the CertificateRequest is encrypted
		},
	}
	ports := map[string]uint16{"nginx.pcap": nginxPort, "mtls.pcap": mtlsPort}
	for name, ws := range cases {
		evs := replayFile(t, name, ports[name])
		slices.SortFunc(evs, func(a, b *event.Event) int { return a.Event.Start.Compare(b.Event.Start) })
		if len(evs) != len(ws) {
			t.Fatalf("%s: %d events, want %d", name, len(evs), len(ws))
		}
		for i, w := range ws {
			ev, tl := evs[i], evs[i].TLS
			what := fmt.Sprintf("%s event %d", name, i)
			if ev.Status != w.status || !sameBool(tl.Resumed, w.resumed) || !sameBool(tl.Client.CertificateRequested, w.certReq) ||
				!sameBool(tl.Client.CertificateSent, w.certSnt) || w.ja4 != "" && tl.Client.JA4 != w.ja4 || w.noSNI != (tl.Client.ServerName == "") {
				t.Errorf("%s: got %s", what, event.AppendJSON(nil, ev))
			}
			if (tl.Version == "1.3" || *tl.Resumed) != (tl.Server.Subject == "") {
				t.Errorf("%s: TLS %s with server certificate %q (TLS 1.3 encrypts it)", what, tl.Version, tl.Server.Subject)
			}
		}
	}
}

func sameBool(a, b *bool) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }
