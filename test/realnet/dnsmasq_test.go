package realnet_test

import (
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/test/realnet"
)

// TestDnsmasq checks the records StartDnsmasq promises, over UDP and TCP, with dig.
func TestDnsmasq(t *testing.T) {
	pair := realnet.NewPair(t)
	d := realnet.StartDnsmasq(t, pair, realnet.DnsmasqOptions{})
	for _, tc := range []struct{ name, typ, want string }{
		{realnet.DNSHostName, "A", realnet.DNSHostIP4},
		{realnet.DNSHostName, "AAAA", realnet.DNSHostIP6},
		{realnet.DNSTXTName, "TXT", `"v=audit1" "hello world"`},
		{realnet.DNSMXName, "MX", "10 mail." + realnet.DNSZone + "."},
		{realnet.DNSSRVName, "SRV", "5 20 3306 db." + realnet.DNSZone + "."},
	} {
		for _, tcp := range []bool{false, true} {
			var flags []string
			if tcp {
				flags = append(flags, "+tcp")
			}
			got, err := d.Dig(tc.name, tc.typ, flags...)
			if err != nil || strings.TrimSpace(got) != tc.want {
				t.Errorf("dig %s %s tcp=%v: %q, %v; want %q", tc.name, tc.typ, tcp, got, err, tc.want)
			}
		}
	}
	if st, err := d.DigStatus("nope."+realnet.DNSZone, "A", "+tcp"); err != nil || st != "NXDOMAIN" {
		t.Errorf("missing name: %q, %v; want NXDOMAIN", st, err)
	}
}
