package pgsql

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/protocols"
)

func TestDetect(t *testing.T) {
	startup := startupMsg("alice", "shop")
	tests := []struct {
		name string
		dir  protocols.Dir
		b    []byte
		want bool
	}{
		{"StartupMessage", protocols.ToServer, startup, true},
		{"StartupMessage cut after a key", protocols.ToServer, startup[:14], true},
		{"StartupMessage cut in the header", protocols.ToServer, startup[:6], false},
		{"StartupMessage without user", protocols.ToServer, cat(i32(21), i32(codeProtocol3), cstr("database"), cstr("x"), []byte{0}), false},
		{"StartupMessage protocol 2", protocols.ToServer, cat(i32(len(startup)), i32(2<<16), startup[8:]), false},
		{"StartupMessage with a control byte", protocols.ToServer, cat(startup[:9], []byte{1}, startup[10:]), false},
		{"SSLRequest", protocols.ToServer, cat(i32(8), i32(codeSSL)), true},
		{"GSSENCRequest", protocols.ToServer, cat(i32(8), i32(codeGSSENC)), true},
		{"CancelRequest", protocols.ToServer, cat(i32(16), i32(codeCancel), i32(1234), i32(5678)), true},
		{"CancelRequest of the wrong length", protocols.ToServer, cat(i32(12), i32(codeCancel), i32(1234)), false},
		{"HTTP request", protocols.ToServer, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false},
		{"TLS ClientHello", protocols.ToServer, []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}, false},
		{"simple Query (no start-up)", protocols.ToServer, query("SELECT 1"), false},
		{"empty", protocols.ToServer, nil, false},
		{"AuthenticationOk", protocols.ToClient, authOK(), true},
		{"AuthenticationMD5Password", protocols.ToClient, msgOf('R', i32(5), []byte{1, 2, 3, 4}), true},
		{"AuthenticationSASL", protocols.ToClient, msgOf('R', i32(10), cstr("SCRAM-SHA-256"), []byte{0}), true},
		{"authentication with a bad length", protocols.ToClient, msgOf('R', i32(0), i32(0)), false},
		{"SSL answer S", protocols.ToClient, []byte{'S'}, true},
		{"SSL answer N", protocols.ToClient, []byte{'N'}, true},
		{"SSL answer N then authentication", protocols.ToClient, cat([]byte{'N'}, authOK()), true},
		{"N then text", protocols.ToClient, []byte("No such thing"), false},
		{"start-up FATAL", protocols.ToClient, msgOf('E', []byte{'S'}, cstr("FATAL"), []byte{'C'}, cstr("3D000"), []byte{'M'}, cstr("no db"), []byte{0}), true},
		{"MySQL greeting", protocols.ToClient, []byte{0x4a, 0, 0, 0, 0x0a, '8', '.', '0'}, false},
		{"HTTP response", protocols.ToClient, []byte("HTTP/1.1 200 OK\r\n"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.b, tc.dir); got != tc.want {
				t.Errorf("Detect = %v, want %v", got, tc.want)
			}
		})
	}
	// The first bytes of each direction of every captured connection.
	for _, file := range []string{"simple.pcap", "pgx.pcap", "ssl.pcap", "cancel.pcap"} {
		seen := map[[2]string]bool{}
		for _, sg := range readSegs(t, file) {
			k := [2]string{sg.Client.String(), sg.Dir.String()}
			if len(sg.Payload) == 0 || seen[k] {
				continue
			}
			seen[k] = true
			if !Detect(sg.Payload, sg.Dir) {
				t.Errorf("%s %s: first bytes %q not detected", file, sg.Dir, sg.Payload[:min(len(sg.Payload), 16)])
			}
		}
	}
}
