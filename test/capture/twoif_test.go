package capture_test

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/realnet"
)

// TestSameConnectionTwoInterfaces: the pod's veth is a port of a bridge (br0) that holds the
// pod's address on a second subnet, so a connection over that subnet shows on br0 and on eth0.
// The sidecar captures both and audits each statement, and each DNS lookup over UDP and TCP,
// once, from whichever interface saw the connection first; the other counts it as a duplicate.
func TestSameConnectionTwoInterfaces(t *testing.T) {
	pair := realnet.NewPair(t)
	db := realnet.StartMariaDB(t, pair, realnet.MariaDBOptions{}) // it checks itself over 10.231.0.0/24
	if out, err := exec.Command("ip", "-n", pair.PeerNS, "addr", "add", "10.232.0.2/24", "dev", pair.PeerIf).CombinedOutput(); err != nil {
		t.Fatalf("ip: %v: %s", err, out)
	}
	dm := realnet.StartDnsmasq(t, pair, realnet.DnsmasqOptions{ExtraAddrs: []string{"10.232.0.2"}})
	for _, args := range [][]string{
		{"-n", pair.PodNS, "link", "add", "br0", "type", "bridge"},
		{"-n", pair.PodNS, "link", "set", pair.PodIf, "master", "br0"},
		{"-n", pair.PodNS, "addr", "add", "10.232.0.1/24", "dev", "br0"},
		{"-n", pair.PodNS, "link", "set", "br0", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sc := startSidecar(t, pair, `{"version":1,"protocols":[{"name":"mysql","ports":[3306]},{"name":"dns","ports":[53]}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099}`,
		"--interfaces", "br0,"+pair.PodIf)
	for _, flags := range [][]string{nil, {"+tcp"}} {
		if out, err := dm.DigVia("10.232.0.2", realnet.DNSHostName, "A", flags...); err != nil || strings.TrimSpace(out) != realnet.DNSHostIP4 {
			t.Fatalf("dig %v: %q %v", flags, out, err)
		}
	}
	const q = "SELECT 'over the bridge' AS via"
	if _, err := db.RunClientVia("10.232.0.2", 3306, q+";"); err != nil {
		t.Fatal(err)
	}
	live := sc.stop(t)
	ev := one(t, transactions(live, event.TypeMySQL), q)
	if ev.Status != event.StatusOK {
		t.Errorf("status %q on %s", ev.Status, ev.Network.Interface)
	}
	lookups := transactions(live, event.TypeDNS)
	if len(lookups) != 2 || lookups[0].Network.Transport == lookups[1].Network.Transport {
		t.Errorf("%d dns events, want one over UDP and one over TCP", len(lookups))
	}
	for _, ev := range lookups {
		if ev.DNS.Question.Name != realnet.DNSHostName || ev.DNS.ResponseCode != "NOERROR" {
			t.Errorf("dns: %+v", ev.DNS)
		}
	}
	// Each interface may win some: the connections' duplicates add up to one per connection
	// (the MySQL one, dig's TCP one and dig's UDP flow).
	dups := 0
	for _, m := range duplicatesLog.FindAllStringSubmatch(sc.stderr.String(), -1) {
		if strings.Contains(m[0], `"capture stopped"`) {
			n, _ := strconv.Atoi(m[1])
			dups += n
		}
	}
	if dups != 3 {
		t.Errorf("%d duplicate connections reported, want 3:\n%s", dups, sc.stderr.String())
	}
}

var duplicatesLog = regexp.MustCompile(`(?m)^.*"duplicateConnections":(\d+).*$`)
