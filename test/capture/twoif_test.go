package capture_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/realnet"
)

// TestSameConnectionTwoInterfaces: the pod's veth is a port of a bridge (br0) that holds the
// pod's address on a second subnet, so a connection over that subnet shows on br0 and on eth0.
// The sidecar captures both and audits each statement once, from whichever interface saw the
// connection first; the other counts it as a duplicate.
func TestSameConnectionTwoInterfaces(t *testing.T) {
	pair := realnet.NewPair(t)
	db := realnet.StartMariaDB(t, pair, realnet.MariaDBOptions{}) // it checks itself over 10.231.0.0/24
	for _, args := range [][]string{
		{"-n", pair.PodNS, "link", "add", "br0", "type", "bridge"},
		{"-n", pair.PodNS, "link", "set", pair.PodIf, "master", "br0"},
		{"-n", pair.PodNS, "addr", "add", "10.232.0.1/24", "dev", "br0"},
		{"-n", pair.PodNS, "link", "set", "br0", "up"},
		{"-n", pair.PeerNS, "addr", "add", "10.232.0.2/24", "dev", pair.PeerIf},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sc := startSidecar(t, pair, mysqlConfig, "--interfaces", "br0,"+pair.PodIf)
	const q = "SELECT 'over the bridge' AS via"
	if _, err := db.RunClientVia("10.232.0.2", 3306, q+";"); err != nil {
		t.Fatal(err)
	}
	live := sc.stop(t)
	ev := one(t, transactions(live, event.TypeMySQL), q)
	if ev.Status != event.StatusOK {
		t.Errorf("status %q on %s", ev.Status, ev.Network.Interface)
	}
	if !strings.Contains(sc.stderr.String(), `"duplicateConnections":1`) {
		t.Errorf("no interface reported the connection as a duplicate:\n%s", sc.stderr.String())
	}
}
