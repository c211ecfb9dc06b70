package pgsql

import (
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/internal/stable"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
	"github.com/audit-io/wire-audit/internal/testenv"
)

const testPort = 15432

// summary is the part of an event the pcap tests assert.
func summary(ev *event.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s rows=%d fields=%d", ev.Status, ev.Method, ev.PgSQL.NumRows, ev.PgSQL.NumFields)
	if ev.PgSQL.ErrorCode != "" {
		fmt.Fprintf(&b, " code=%s", ev.PgSQL.ErrorCode)
	}
	if ev.PgSQL.Statement != "" {
		fmt.Fprintf(&b, " stmt=%s", ev.PgSQL.Statement)
	}
	if ev.PgSQL.Portal != "" {
		fmt.Fprintf(&b, " portal=%s", ev.PgSQL.Portal)
	}
	if ev.TLS != nil {
		b.WriteString(" tls")
	}
	if ev.Error != nil {
		fmt.Fprintf(&b, " note=%q", ev.Error.Message)
	}
	fmt.Fprintf(&b, " %q", ev.Query)
	return b.String()
}

func readSegs(t testing.TB, name string) []protocoltest.Segment {
	t.Helper()
	return protocoltest.ReadSegments(t, filepath.Join("testdata", name), testPort)
}

func replayFile(t testing.TB, name string, opts *protocols.Options) []*event.Event {
	t.Helper()
	return protocoltest.Replay(readSegs(t, name), New, opts)
}

func TestPcaps(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"simple.pcap", []string{
			`OK DROP rows=0 fields=0 "DROP TABLE IF EXISTS accounts;"`,
			`OK CREATE rows=0 fields=0 "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric);"`,
			`OK INSERT rows=3 fields=0 "INSERT INTO accounts VALUES (1, 'alice', 100), (2, 'bob', 50), (3, 'carol', 75);"`,
			`OK SELECT rows=2 fields=3 "SELECT id, owner, balance FROM accounts WHERE balance > 60 ORDER BY id;"`,
			`OK UPDATE rows=2 fields=0 "UPDATE accounts SET balance = balance + 1 WHERE id IN (1, 2);"`,
			`Error SELECT rows=0 fields=0 code=42P01 "SELECT * FROM no_such_table;"`,
			`Error SELECT rows=0 fields=0 code=22012 "SELECT 1/0;"`,
			`OK BEGIN rows=0 fields=0 "BEGIN;"`,
			`OK DELETE rows=1 fields=0 "DELETE FROM accounts WHERE id = 3;"`,
			`OK ROLLBACK rows=0 fields=0 "ROLLBACK;"`,
			`OK BEGIN rows=0 fields=0 "BEGIN;"`,
			`OK INSERT rows=1 fields=0 "INSERT INTO accounts VALUES (4, 'dave', 10);"`,
			`OK UPDATE rows=1 fields=0 "UPDATE accounts SET balance = 0 WHERE id = 4;"`,
			`OK COMMIT rows=0 fields=0 "COMMIT;"`,
			`OK COPY rows=3 fields=0 "COPY accounts (id, owner, balance) FROM STDIN;"`,
			`OK COPY rows=7 fields=0 "COPY (SELECT * FROM accounts ORDER BY id) TO STDOUT;"`,
			`OK SELECT rows=1 fields=1 "SELECT repeat('x', 20000) AS big;"`,
			`OK  rows=0 fields=0 ";"`,
			`OK SELECT rows=1 fields=1 "SELECT 1;"`,
			`Error SELECT rows=0 fields=0 code=42P01 "SELECT * FROM missing;"`,
			`OK SELECT rows=1 fields=1 "SELECT 2;"`,
			`Error StartupMessage rows=0 fields=0 code=3D000 ""`,
			`OK SELECT rows=1 fields=1 "SELECT current_user"`,
			`OK BEGIN rows=6 fields=0 "BEGIN; INSERT INTO accounts VALUES (5, 'eve', 5); UPDATE accounts SET balance = balance * 2 WHERE id > 3; COMMIT"`,
			`Error SELECT rows=1 fields=1 code=42P01 "SELECT 1; SELECT * FROM missing; SELECT 2"`,
		}},
		{"cancel.pcap", []string{
			`OK CancelRequest rows=0 fields=0 ""`,
			`Error SELECT rows=0 fields=1 code=57014 "SELECT pg_sleep(5)"`,
		}},
		{"ssl.pcap", []string{
			`OK SSLRequest rows=0 fields=0 tls ""`,
		}},
		{"pgx.pcap", []string{
			`OK DROP rows=0 fields=0 "DROP TABLE IF EXISTS items"`,
			`OK CREATE rows=0 fields=0 "CREATE TABLE items (id int PRIMARY KEY, name text, price numeric)"`,
			`OK INSERT rows=1 fields=0 stmt=stmtcache_b11cc79a9e3be492a8364d6264cb07e02d56d63cfd65baf5 "INSERT INTO items (id, name, price) VALUES ($1, $2, $3)"`,
			`OK INSERT rows=1 fields=0 stmt=stmtcache_b11cc79a9e3be492a8364d6264cb07e02d56d63cfd65baf5 "INSERT INTO items (id, name, price) VALUES ($1, $2, $3)"`,
			`OK INSERT rows=1 fields=0 stmt=stmtcache_b11cc79a9e3be492a8364d6264cb07e02d56d63cfd65baf5 "INSERT INTO items (id, name, price) VALUES ($1, $2, $3)"`,
			`OK SELECT rows=3 fields=2 stmt=stmtcache_a99a1fb08a3c5a96feb55e2a430e8bd149d94ec5400d735f "SELECT id, name FROM items WHERE price > $1 ORDER BY id"`,
			`Error INSERT rows=0 fields=0 code=23505 stmt=stmtcache_b11cc79a9e3be492a8364d6264cb07e02d56d63cfd65baf5 "INSERT INTO items (id, name, price) VALUES ($1, $2, $3)"`,
			// Prepared (Parse/Describe/Sync) with a syntax error, so never executed.
			`Error SELEC rows=0 fields=0 code=42601 stmt=stmtcache_7da47719e6e10f28acc4e143639821a8a84fe046e16af74d "SELEC id FROM items WHERE id = $1"`,
			// One batch, one Sync: the second Execute fails, the third is skipped.
			`OK UPDATE rows=1 fields=0 stmt=stmtcache_bf94e68b38caa30a20a1c3fffd3a9b1c2d4a9a44e04ba78f "UPDATE items SET price = price + 1 WHERE id = $1"`,
			`Error INSERT rows=0 fields=0 code=23505 stmt=stmtcache_b11cc79a9e3be492a8364d6264cb07e02d56d63cfd65baf5 "INSERT INTO items (id, name, price) VALUES ($1, $2, $3)"`,
			`Error DELETE rows=0 fields=0 stmt=stmtcache_08cce122c8eb9b390e5411cc08d2e735de7230a596fa2f2b note="` + noteSkipped + `" "DELETE FROM items WHERE id = $1"`,
			// A named portal run twice with a row limit of 2.
			`OK SELECT rows=2 fields=2 stmt=s_named portal=p_named "SELECT id, name FROM items ORDER BY id"`,
			`OK SELECT rows=1 fields=2 stmt=s_named portal=p_named "SELECT id, name FROM items ORDER BY id"`,
			// The unnamed statement, parsed again with other text in the same batch.
			`OK SELECT rows=1 fields=0 "SELECT count(*) FROM items"`,
			`OK SELECT rows=1 fields=0 "SELECT name FROM items WHERE id = 2"`,
			// Bind of the statement closed above.
			`Error  rows=0 fields=0 code=26000 stmt=s_named portal=p_gone note="` + noteNoStatement + `" ""`,
			`OK SELECT rows=1 fields=0 stmt=s_again "SELECT 42"`,
			// pgx closes the connection on a context deadline without reading the answer.
			`Error SELECT rows=0 fields=0 note="` + noteNoResponse + `" "SELECT pg_sleep(3)"`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			var got []string
			for _, ev := range replayFile(t, tc.file, nil) {
				got = append(got, summary(ev))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestPgbench checks the extended-protocol captures: every pgbench transaction is seven
// Executes, all answered, with the user and database of the start-up message.
func TestPgbench(t *testing.T) {
	for _, file := range []string{"pgbench_extended.pcap", "pgbench_prepared.pcap"} {
		t.Run(file, func(t *testing.T) {
			verbs := map[string]int{}
			for _, ev := range replayFile(t, file, nil) {
				if ev.Status != event.StatusOK || ev.Error != nil {
					t.Errorf("not OK: %s", summary(ev))
				}
				if ev.User == nil || ev.User.Name != "postgres" || ev.DB == nil || ev.DB.Name != "postgres" {
					t.Errorf("user/db: %+v %+v", ev.User, ev.DB)
				}
				if ev.Event.Duration <= 0 || ev.Client.Bytes == 0 || ev.Server.Bytes == 0 {
					t.Errorf("duration/bytes: %s %d %d %d", summary(ev), ev.Event.Duration, ev.Client.Bytes, ev.Server.Bytes)
				}
				if ev.Method == "UPDATE" || ev.Method == "INSERT" {
					if ev.PgSQL.NumRows != 1 {
						t.Errorf("rows: %s", summary(ev))
					}
				}
				verbs[ev.Method]++
			}
			// 2 clients x 10 transactions of the built-in TPC-B script (BEGIN, UPDATE, SELECT,
			// UPDATE, UPDATE, INSERT, END), and the two SELECTs of pgbench's own set-up.
			want := map[string]int{"BEGIN": 20, "UPDATE": 60, "SELECT": 20 + 2, "INSERT": 20, "END": 20}
			if !maps.Equal(verbs, want) {
				t.Errorf("verbs %v, want %v", verbs, want)
			}
		})
	}
}

// TestTshark cross-checks the statement texts against tshark's dissection of the same files:
// every simple Query in order, and the set of Parse texts against the texts of the Executes.
func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		testenv.Missing(t, "tshark not installed")
	}
	for _, file := range []string{"simple.pcap", "cancel.pcap", "pgx.pcap", "pgbench_extended.pcap", "pgbench_prepared.pcap", "ssl.pcap"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel() // tshark takes seconds per file
			simple, parsed := tsharkQueries(t, file)
			var gotSimple []string
			gotParsed := map[string]bool{}
			for _, ev := range replayFile(t, file, nil) {
				if ev.Query == "" {
					continue
				}
				if slices.Contains(simple, ev.Query) {
					gotSimple = append(gotSimple, ev.Query)
				} else {
					gotParsed[ev.Query] = true
				}
			}
			if !slices.Equal(gotSimple, simple) {
				t.Errorf("simple queries:\n%q\ntshark:\n%q", gotSimple, simple)
			}
			wantParsed := map[string]bool{}
			for _, q := range parsed {
				if !slices.Contains(simple, q) {
					wantParsed[q] = true
				}
			}
			if !maps.Equal(gotParsed, wantParsed) {
				t.Errorf("extended-protocol statements:\n%q\ntshark's Parse texts:\n%q", slices.Sorted(maps.Keys(gotParsed)), slices.Sorted(maps.Keys(wantParsed)))
			}
		})
	}
}

// tsharkQueries returns the query texts of the Simple query and of the Parse messages, in the
// order tshark dissects them.
func tsharkQueries(t *testing.T, file string) (simple, parsed []string) {
	t.Helper()
	out, err := exec.Command("tshark", "-r", filepath.Join("testdata", file), "-d", fmt.Sprintf("tcp.port==%d,pgsql", testPort),
		"-T", "json", "-e", "pgsql.type", "-e", "pgsql.query").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var pkts []struct {
		Source struct {
			Layers struct {
				Type  []string `json:"pgsql.type"`
				Query []string `json:"pgsql.query"`
			} `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &pkts); err != nil {
		t.Fatalf("tshark json: %v", err)
	}
	for _, p := range pkts {
		// Only Simple query and Parse carry pgsql.query, in message order.
		queries := p.Source.Layers.Query
		for _, ty := range p.Source.Layers.Type {
			if ty != "Simple query" && ty != "Parse" {
				continue
			}
			if len(queries) == 0 {
				t.Fatalf("tshark: %s without query", ty)
			}
			if ty == "Parse" {
				parsed = append(parsed, queries[0])
			} else {
				simple = append(simple, queries[0])
			}
			queries = queries[1:]
		}
	}
	return simple, parsed
}

// TestEventsStable: the pgsql.* an event shares with its transaction, which comes from the
// parser's slab, is not written to once the event is emitted.
func TestEventsStable(t *testing.T) {
	for _, f := range []string{"pgbench_extended.pcap", "pgbench_prepared.pcap", "simple.pcap", "pgx.pcap"} {
		stable.CheckParser(t, New, func(pf protocols.Factory) { protocoltest.Replay(readSegs(t, f), pf, nil) })
	}
}
