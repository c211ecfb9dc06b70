package tls

import (
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/mysql"
	"github.com/audit-io/wire-audit/capture/protocols/pgsql"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// TestUpgrades: the MySQL and PostgreSQL parsers hand the TLS after an SSL request to this
// parser (the real mariadb --ssl and psql sslmode=require captures of their testdata), and
// its event agrees with tshark, which follows the same switch in its MySQL and PostgreSQL
// dissectors. Without Options.Upgrade there is no tls event, as before.
func TestUpgrades(t *testing.T) {
	for _, c := range []struct {
		name, path string
		port       uint16
		factory    protocols.Factory
		dbType     string
	}{
		{"mysql", "../mysql/testdata/ssl.pcap", 13306, mysql.New, event.TypeMySQL},
		{"pgsql", "../pgsql/testdata/ssl.pcap", 15432, pgsql.New, event.TypePgSQL},
	} {
		t.Run(c.name, func(t *testing.T) {
			segs := protocoltest.ReadSegments(t, c.path, c.port)
			evs := protocoltest.Replay(segs, c.factory, &protocols.Options{Upgrade: NewUpgraded})
			var tlsEvs []*event.Event
			sawRequest := false
			for _, ev := range evs {
				switch ev.Type {
				case event.TypeTLS:
					tlsEvs = append(tlsEvs, ev)
				case c.dbType:
					sawRequest = sawRequest || ev.TLS != nil && ev.TLS.Requested
				}
			}
			want := tsharkConnsAs(t, c.path, c.port, c.name)
			if !sawRequest || len(tlsEvs) != len(want) || len(want) == 0 {
				t.Fatalf("%d tls events (request event seen: %v), tshark saw %d TLS handshakes", len(tlsEvs), sawRequest, len(want))
			}
			got := byClientPort(t, tlsEvs)
			for port, w := range want {
				ev := got[port]
				if ev == nil {
					t.Fatalf("%s: no tls event", port)
				}
				if !ev.TLS.Requested || ev.Network.Protocol != event.TypeTLS {
					t.Errorf("%s: requested %v protocol %q", port, ev.TLS.Requested, ev.Network.Protocol)
				}
				checkAgainst(t, port, ev, w)
			}
			for _, ev := range protocoltest.Replay(segs, c.factory, &protocols.Options{}) {
				if ev.Type == event.TypeTLS {
					t.Fatal("a tls event without Options.Upgrade")
				}
			}
		})
	}
}
