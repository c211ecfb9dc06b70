package mysql

import (
	"bytes"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/stable"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
	"github.com/audit-io/wire-audit/internal/testenv"
)

const testPort = 13306

// summary renders what a test asserts of an event on one line.
func summary(ev *event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", ev.Method, ev.Status)
	if m := ev.MySQL; m != nil {
		if m.NumFields != 0 || m.NumRows != 0 {
			fmt.Fprintf(&b, " fields=%d rows=%d", m.NumFields, m.NumRows)
		}
		if m.AffectedRows != 0 || m.InsertID != 0 {
			fmt.Fprintf(&b, " affected=%d id=%d", m.AffectedRows, m.InsertID)
		}
		if m.ErrorCode != 0 {
			fmt.Fprintf(&b, " err=%d/%s", m.ErrorCode, m.SQLState)
		}
		if m.StatementID != 0 {
			fmt.Fprintf(&b, " stmt=%d", m.StatementID)
		}
	}
	if ev.User != nil {
		fmt.Fprintf(&b, " user=%s", ev.User.Name)
	}
	if ev.DB != nil {
		fmt.Fprintf(&b, " db=%s", ev.DB.Name)
	}
	if ev.TLS != nil {
		fmt.Fprintf(&b, " tls=%v", ev.TLS.Requested)
	}
	if ev.Error != nil {
		fmt.Fprintf(&b, " error=%q", ev.Error.Message)
	}
	if ev.Query != "" {
		q := ev.Query
		if len(q) > 41 {
			q = string(trimRune([]byte(q[:41]))) + "..."
		}
		fmt.Fprintf(&b, " q=%q", q)
	}
	return b.String()
}

func summaries(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = summary(ev)
	}
	return out
}

func replayFile(t testing.TB, name string, opts *protocols.Options) []*event.Event {
	t.Helper()
	return protocoltest.Replay(protocoltest.ReadSegments(t, "testdata/"+name, testPort), New, opts)
}

func TestCaptures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"cli.pcap", []string{
			`DROP OK user=audit db=shop q="DROP TABLE IF EXISTS accounts"`,
			`CREATE OK user=audit db=shop q="CREATE TABLE accounts (id INT AUTO_INCREM..."`,
			`INSERT OK affected=3 id=1 user=audit db=shop q="INSERT INTO accounts (owner, balance) VAL..."`,
			`SELECT OK fields=3 rows=2 user=audit db=shop q="SELECT id, owner, balance FROM accounts W..."`,
			`SELECT Error err=1146/42S02 user=audit db=shop q="SELECT * FROM no_such_table"`,
			`SELEC Error err=1064/42000 user=audit db=shop q="SELEC oops"`,
			`BEGIN OK user=audit db=shop q="BEGIN"`,
			`UPDATE OK affected=1 id=0 user=audit db=shop q="UPDATE accounts SET balance = balance - 1..."`,
			`UPDATE OK affected=1 id=0 user=audit db=shop q="UPDATE accounts SET balance = balance + 1..."`,
			`COMMIT OK user=audit db=shop q="COMMIT"`,
			`START OK user=audit db=shop q="START TRANSACTION"`,
			`DELETE OK affected=1 id=0 user=audit db=shop q="DELETE FROM accounts WHERE owner = 'carol..."`,
			`ROLLBACK OK user=audit db=shop q="ROLLBACK"`,
			`UPDATE OK affected=1 id=0 user=audit db=shop q="UPDATE accounts SET blob_col = REPEAT('x'..."`,
			`SELECT OK fields=2 rows=1 user=audit db=shop q="SELECT owner, blob_col FROM accounts WHER..."`,
			`SELECT OK fields=1 rows=1 user=audit db=shop q="SELECT COUNT(*) FROM accounts"`,
			`SELECT OK fields=1 rows=1 user=audit db=shop q="SELECT DATABASE()"`,
			`INIT_DB OK user=audit db=other`,
			`SELECT OK fields=1 rows=1 user=audit db=other q="SELECT DATABASE()"`,
			`SELECT OK fields=1 rows=1 user=audit db=other q="SELECT DATABASE()"`,
			`INIT_DB OK user=audit db=shop`,
			`LOAD OK affected=3 id=0 user=audit db=shop q="LOAD DATA LOCAL INFILE '/tmp/mysqlwork/in..."`,
			`SELECT OK fields=1 rows=0 user=audit db=shop q="SELECT 1 FROM DUAL WHERE 1 = 0"`,
			`QUIT OK user=audit db=shop`,
		}},
		{"admin.pcap", []string{
			`PING OK user=audit`,
			`QUIT OK user=audit`,
		}},
		{"prepared.pcap", []string{
			`PING OK user=audit db=shop`,
			`DROP OK user=audit db=shop q="DROP TABLE IF EXISTS items"`,
			`CREATE OK user=audit db=shop q="CREATE TABLE items (id INT AUTO_INCREMENT..."`,
			`PREPARE OK stmt=1 user=audit db=shop q="INSERT INTO items (name, price, note) VAL..."`,
			`INSERT OK affected=1 id=1 stmt=1 user=audit db=shop q="INSERT INTO items (name, price, note) VAL..."`,
			`INSERT OK affected=1 id=2 stmt=1 user=audit db=shop q="INSERT INTO items (name, price, note) VAL..."`,
			`INSERT OK affected=1 id=3 stmt=1 user=audit db=shop q="INSERT INTO items (name, price, note) VAL..."`,
			`INSERT Error err=1062/23000 stmt=1 user=audit db=shop q="INSERT INTO items (name, price, note) VAL..."`,
			`PREPARE OK fields=4 rows=0 stmt=2 user=audit db=shop q="SELECT id, name, price, note FROM items W..."`,
			`SELECT OK fields=4 rows=2 stmt=2 user=audit db=shop q="SELECT id, name, price, note FROM items W..."`,
			`PREPARE Error err=1064/42000 user=audit db=shop q="SELEC broken FROM"`,
			`START OK user=audit db=shop q="START TRANSACTION"`,
			`PREPARE OK stmt=4 user=audit db=shop q="UPDATE items SET price = price * ? WHERE ..."`,
			`UPDATE OK affected=1 id=0 stmt=4 user=audit db=shop q="UPDATE items SET price = price * ? WHERE ..."`,
			`COMMIT OK user=audit db=shop q="COMMIT"`,
			`PING OK user=audit db=shop`,
			`QUIT OK user=audit db=shop`,
		}},
		{"ssl.pcap", []string{
			`SSL OK tls=true`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got := summaries(replayFile(t, tc.file, nil))
			if !slices.Equal(got, tc.want) {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestLoad checks the capture of mariadb-slap: eight connections, three of them at a time, with
// inserts and primary-key lookups. Every statement succeeds, so must every event.
func TestLoad(t *testing.T) {
	evs := replayFile(t, "slap.pcap", nil)
	counts := map[string]int{}
	for _, ev := range evs {
		counts[ev.Method]++
		if ev.Status != event.StatusOK || ev.Error != nil {
			t.Errorf("event %s", summary(ev))
		}
	}
	// The commands in the capture, counted by tshark: each run's schema set-up and
	// tear-down, its inserts and lookups, and COM_QUIT per connection.
	want := map[string]int{"CREATE": 4, "DROP": 4, "INIT_DB": 2, "INSERT": 63, "SELECT": 61, "QUIT": 8}
	if !maps.Equal(counts, want) {
		t.Errorf("events by method %v, want %v", counts, want)
	}
}

// TestCaptureDetails checks the fields the summaries leave out on a few events.
func TestCaptureDetails(t *testing.T) {
	evs := replayFile(t, "cli.pcap", nil)
	sel := evs[3] // SELECT id, owner, balance ...
	if sel.Event.Duration <= 0 || sel.Client.Bytes != 4+71 || sel.Server.Bytes == 0 ||
		sel.Network.Bytes != sel.Client.Bytes+sel.Server.Bytes {
		t.Errorf("timing and bytes: duration %d client %d server %d network %d",
			sel.Event.Duration, sel.Client.Bytes, sel.Server.Bytes, sel.Network.Bytes)
	}
	if sel.QueryFingerprint == "" || sel.Type != event.TypeMySQL || sel.Client.Port == testPort ||
		sel.Server.Port != testPort {
		t.Errorf("event identity: %+v", sel)
	}
	big := evs[14] // the 40 000-byte row
	if big.Server.Bytes < 40000 {
		t.Errorf("large row: server bytes %d", big.Server.Bytes)
	}
	if e := evs[4]; e.MySQL.ErrorMessage != "Table 'shop.no_such_table' doesn't exist" {
		t.Errorf("error message %q", e.MySQL.ErrorMessage)
	}
}

// TestOptions checks that the privacy options reach query text, prepared statements included.
func TestOptions(t *testing.T) {
	opts := &protocols.Options{MaxQueryLength: 20, MaskLiterals: true}
	evs := replayFile(t, "cli.pcap", opts)
	if q := evs[2].Query; q != "INSERT INTO accounts" || !evs[2].QueryTruncated {
		t.Errorf("insert: %q truncated=%v", q, evs[2].QueryTruncated)
	}
	full := replayFile(t, "cli.pcap", nil)
	if evs[2].QueryFingerprint != full[2].QueryFingerprint {
		t.Error("the fingerprint must not depend on the privacy options")
	}
	evs = replayFile(t, "prepared.pcap", &protocols.Options{MaxQueryLength: 11})
	if q := evs[4].Query; q != "INSERT INTO" || !evs[4].QueryTruncated || evs[4].Method != "INSERT" {
		t.Errorf("execute: %q truncated=%v method %s", q, evs[4].QueryTruncated, evs[4].Method)
	}
}

// chunked splits every payload into pieces of size n (the last may be shorter).
func chunked(segs []protocoltest.Segment, n int) []protocoltest.Segment {
	var out []protocoltest.Segment
	for _, s := range segs {
		if len(s.Payload) == 0 {
			out = append(out, s)
			continue
		}
		seq := s.Seq
		if s.SYN {
			seq++
		}
		for p := s.Payload; len(p) > 0; {
			c := s
			c.Payload = p[:min(n, len(p))]
			c.Seq, c.SYN = seq, false
			seq += uint32(len(c.Payload))
			p = p[len(c.Payload):]
			out = append(out, c)
		}
	}
	return out
}

// coalesced joins consecutive payloads of the same direction, as reassembly may deliver them.
func coalesced(segs []protocoltest.Segment) []protocoltest.Segment {
	var out []protocoltest.Segment
	for _, s := range segs {
		if n := len(out); n > 0 && out[n-1].Dir == s.Dir && out[n-1].Client == s.Client {
			out[n-1].Payload = append(slices.Clip(out[n-1].Payload), s.Payload...)
			continue
		}
		out = append(out, s)
	}
	return out
}

func TestChunking(t *testing.T) {
	for _, file := range captures {
		segs := protocoltest.ReadSegments(t, "testdata/"+file, testPort)
		want := summaries(protocoltest.Replay(segs, New, nil))
		for _, tc := range []struct {
			name string
			segs []protocoltest.Segment
		}{
			{"1-byte", chunked(segs, 1)},
			{"3-byte", chunked(segs, 3)},
			{"1000-byte", chunked(segs, 1000)},
			{"coalesced", coalesced(segs)},
		} {
			t.Run(file+"/"+tc.name, func(t *testing.T) {
				got := summaries(protocoltest.Replay(tc.segs, New, nil))
				if !slices.Equal(got, want) {
					t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

// captures are the files in testdata.
var captures = []string{"cli.pcap", "admin.pcap", "prepared.pcap", "ssl.pcap", "slap.pcap"}

// TestTshark compares the statement text decoded from each capture with tshark's dissection
// (COM_QUERY and COM_STMT_PREPARE, which is what tshark calls mysql.query). Both lists are
// sorted: tshark lists requests in frame order, the parser emits at each answer's end, and
// the connections of slap.pcap interleave.
func TestTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		testenv.Missing(t, "tshark not installed")
	}
	for _, file := range captures {
		t.Run(file, func(t *testing.T) {
			out, err := exec.Command(tshark, "-r", "testdata/"+file, "-d", "tcp.port==13306,mysql",
				"-Y", "mysql.query", "-T", "fields", "-e", "mysql.query").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			var want []string
			for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
				if len(line) > 0 {
					want = append(want, string(line))
				}
			}
			var got []string
			for _, ev := range replayFile(t, file, nil) {
				if ev.Query != "" && (ev.MySQL.StatementID == 0 || ev.Method == "PREPARE") {
					got = append(got, ev.Query)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("queries:\n%s\ntshark:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestEventsStable: the mysql.* an event takes from the parser's slab, and the fingerprints
// it shares with other events, are not written to once it is emitted.
func TestEventsStable(t *testing.T) {
	for _, f := range []string{"slap.pcap", "prepared.pcap", "cli.pcap"} {
		opts := &protocols.Options{MaskLiterals: true}
		stable.CheckParser(t, New, func(pf protocols.Factory) {
			protocoltest.Replay(protocoltest.ReadSegments(t, "testdata/"+f, testPort), pf, opts)
		})
	}
}
