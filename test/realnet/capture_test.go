package realnet_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/test/realnet"
)

// TestCaptureAndDissect drives both CLIs while tcpdump captures on the pod veth, and checks that
// tshark finds each statement in the pcap.
func TestCaptureAndDissect(t *testing.T) {
	t.Parallel()
	p := realnet.NewPair(t)
	m := realnet.StartMariaDB(t, p, realnet.MariaDBOptions{})
	pg := realnet.StartPostgres(t, p, realnet.PostgresOptions{})
	file := filepath.Join(t.TempDir(), "both.pcap")
	dump := realnet.StartTcpdump(t, p, p.PodNS, p.PodIf, file, "tcp")

	const (
		myQuery, pgQuery       = "SELECT 'from mysql' AS marker", "SELECT 'from pgsql' AS marker"
		myPrepared, pgPrepared = "SELECT ? + 1 AS go_driver", "SELECT $1::int + 1 AS go_driver"
	)
	if _, err := m.RunClient(myQuery); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.RunClient(pgQuery); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := m.OpenDB(t).QueryRowContext(t.Context(), myPrepared, 1).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := pg.Connect(t).QueryRow(t.Context(), pgPrepared, 1).Scan(&n); err != nil {
		t.Fatal(err)
	}
	stats, err := dump.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if stats.KernelDropped != 0 || stats.Captured == 0 {
		t.Errorf("tcpdump stats %+v, want packets and no drops", stats)
	}
	ps, err := realnet.ReadPcapStats(file)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Packets != stats.Captured {
		t.Errorf("pcap holds %d packets, tcpdump said it captured %d", ps.Packets, stats.Captured)
	}
	// One tshark run for all: it takes half a second to start.
	out, err := realnet.Tshark(t, file, "-Y", "mysql.query || pgsql.query", "-T", "fields", "-e", "mysql.query", "-e", "pgsql.query")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		myQuery + "\t",
		myPrepared + "\t", // in COM_STMT_PREPARE
		"\t" + pgQuery,
		"\t" + pgPrepared, // in Parse
	} {
		if !strings.Contains(out, want) {
			t.Errorf("tshark found no query %q in:\n%s", strings.TrimSpace(want), out)
		}
	}
}

// TestOffloads shows what the capture must handle: with the veth defaults, a large result
// reaches the pod veth as GSO super-packets far above the MTU; DisableOffloads ends that.
func TestOffloads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		disable bool
	}{{"default", false}, {"disabled", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := realnet.NewPair(t)
			if tc.disable {
				p.DisableOffloads(t)
			}
			pg := realnet.StartPostgres(t, p, realnet.PostgresOptions{})
			file := filepath.Join(t.TempDir(), "gso.pcap")
			dump := realnet.StartTcpdump(t, p, p.PodNS, p.PodIf, file, fmt.Sprintf("tcp port %d", pg.Port))
			if _, err := pg.RunClient("SELECT repeat('x', 1000000)"); err != nil {
				t.Fatal(err)
			}
			if _, err := dump.Stop(); err != nil {
				t.Fatal(err)
			}
			ps, err := realnet.ReadPcapStats(file)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d packets, %d bytes, largest %d", ps.Packets, ps.Bytes, ps.MaxLen)
			if big := ps.MaxLen > 1514; big == tc.disable {
				t.Errorf("largest packet %d bytes with offloads disabled=%v", ps.MaxLen, tc.disable)
			}
		})
	}
}

// TestCaptureLoad runs the load generator on a small scale; cmd/loadpcap runs it at full size.
func TestCaptureLoad(t *testing.T) {
	t.Parallel()
	const packets = 10000
	dir := t.TempDir()
	for _, c := range realnet.CaptureLoad(t, realnet.LoadOptions{Dir: dir, Packets: packets}) {
		t.Logf("%s: %+v, %d rounds, %v", c.Protocol, c.Stats, c.Rounds, c.Duration)
		if c.File != filepath.Join(dir, c.Protocol+"-load.pcap") || c.Stats.Packets < packets || c.KernelDropped != 0 {
			t.Errorf("%s: %+v, want %d packets or more in %s and no drops", c.Protocol, c, packets, dir)
		}
		got, err := realnet.ReadPcapStats(c.File)
		if err != nil || got != c.Stats {
			t.Errorf("%s: file holds %+v (%v), want %+v", c.Protocol, got, err, c.Stats)
		}
	}
}
