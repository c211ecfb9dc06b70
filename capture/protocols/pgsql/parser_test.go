package pgsql

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

var login = []step{
	c(startupMsg("alice", "shop")),
	s(authOK(), msgOf('S', cstr("server_version"), cstr("15.18")), msgOf('K', i32(42), i32(7)), ready()),
}

func withLogin(steps ...step) []step { return append(slices.Clone(login), steps...) }

type convCase struct {
	name  string
	mid   bool
	steps []step
	want  []string
}

var convCases = []convCase{
	{
		name:  "simple query",
		steps: withLogin(c(query("SELECT v FROM t")), s(selectAnswer(3))),
		want:  []string{`OK SELECT rows=3 fields=1 "SELECT v FROM t"`},
	},
	{
		name: "several statements in one Query: rows summed",
		steps: withLogin(c(query("BEGIN; INSERT INTO t VALUES (1), (2); UPDATE t SET v = 1; COMMIT")),
			s(complete("BEGIN"), complete("INSERT 0 2"), complete("UPDATE 5"), complete("COMMIT"), ready())),
		want: []string{`OK BEGIN rows=7 fields=0 "BEGIN; INSERT INTO t VALUES (1), (2); UPDATE t SET v = 1; COMMIT"`},
	},
	{
		name:  "error",
		steps: withLogin(c(query("SELECT * FROM nope")), s(errorMsg("42P01", `relation "nope" does not exist`), ready())),
		want:  []string{`Error SELECT rows=0 fields=0 code=42P01 "SELECT * FROM nope"`},
	},
	{
		name:  "empty query",
		steps: withLogin(c(query("")), s(msgOf('I'), ready())),
		want:  []string{`OK  rows=0 fields=0 ""`},
	},
	{
		name: "COPY FROM STDIN: the data is counted, the rows come from the tag",
		steps: withLogin(c(query("COPY t FROM STDIN")), s(msgOf('G', []byte{0}, i16(1), i16(0))),
			c(msgOf('d', []byte("1\n")), msgOf('d', []byte("2\n")), msgOf('c')), s(complete("COPY 2"), ready())),
		want: []string{`OK COPY rows=2 fields=0 "COPY t FROM STDIN"`},
	},
	{
		name: "COPY TO STDOUT",
		steps: withLogin(c(query("COPY t TO STDOUT")), s(msgOf('H', []byte{0}, i16(1), i16(0)),
			msgOf('d', []byte("1\n")), msgOf('d', []byte("2\n")), msgOf('c'), complete("COPY 2"), ready())),
		want: []string{`OK COPY rows=2 fields=0 "COPY t TO STDOUT"`},
	},
	{
		name: "pipelined batch: the failed Parse fails its Execute, the next is skipped, the next batch pairs right",
		steps: withLogin(
			c(parseMsg("", "SELECT 1"), bindMsg("", ""), executeMsg(""),
				parseMsg("", "SELEC 2"), bindMsg("", ""), executeMsg(""),
				parseMsg("", "SELECT 3"), bindMsg("", ""), executeMsg(""), syncMsg(),
				parseMsg("", "SELECT 4"), bindMsg("", ""), executeMsg(""), syncMsg()),
			s(msgOf('1'), msgOf('2'), dataRow("1"), complete("SELECT 1"),
				errorMsg("42601", "syntax error"), ready(),
				msgOf('1'), msgOf('2'), dataRow("4"), dataRow("4"), complete("SELECT 2"), ready())),
		want: []string{
			`OK SELECT rows=1 fields=0 "SELECT 1"`,
			`Error SELEC rows=0 fields=0 code=42601 "SELEC 2"`,
			`Error SELECT rows=0 fields=0 note="` + noteSkipped + `" "SELECT 3"`,
			`OK SELECT rows=2 fields=0 "SELECT 4"`,
		},
	},
	{
		name: "error before the client's Sync arrived: later messages of the batch are skipped as they come",
		steps: withLogin(
			c(parseMsg("s1", "SELECT 1/0"), bindMsg("p1", "s1"), executeMsg("p1"), msgOf('H')),
			s(msgOf('1'), msgOf('2'), errorMsg("22012", "division by zero")),
			c(bindMsg("p1", "s1"), executeMsg("p1"), syncMsg()),
			s(ready()),
			c(query("SELECT 2")), s(selectAnswer(1))),
		want: []string{
			`Error SELECT rows=0 fields=0 code=22012 stmt=s1 portal=p1 "SELECT 1/0"`,
			`Error SELECT rows=0 fields=0 stmt=s1 portal=p1 note="` + noteSkipped + `" "SELECT 1/0"`,
			`OK SELECT rows=1 fields=1 "SELECT 2"`,
		},
	},
	{
		name: "messages the server skips after an error change no statement or portal",
		steps: withLogin(
			c(parseMsg("", "SELECT 1/0"), bindMsg("", ""), executeMsg(""), msgOf('H')),
			s(msgOf('1'), msgOf('2'), errorMsg("22012", "division by zero")),
			c(parseMsg("", "SELECT 'skipped'"), bindMsg("p", ""), msgOf('C', []byte{'S'}, cstr("kept")), syncMsg()),
			s(ready()),
			c(bindMsg("", ""), executeMsg(""), syncMsg()),
			s(msgOf('2'), errorMsg("22012", "division by zero"), ready())),
		want: []string{
			`Error SELECT rows=0 fields=0 code=22012 "SELECT 1/0"`,
			`Error SELECT rows=0 fields=0 code=22012 "SELECT 1/0"`,
		},
	},
	{
		name: "named statement, Describe, Close and re-Parse",
		steps: withLogin(
			c(parseMsg("st", "SELECT a, b FROM t"), msgOf('D', []byte{'S'}, cstr("st")), syncMsg()),
			s(msgOf('1'), msgOf('t', i16(0)), rowDesc("a", "b"), ready()),
			c(bindMsg("", "st"), executeMsg(""), syncMsg()),
			s(msgOf('2'), dataRow("1", "2"), complete("SELECT 1"), ready()),
			c(msgOf('C', []byte{'S'}, cstr("st")), parseMsg("st", "DELETE FROM t"), bindMsg("", "st"), executeMsg(""), syncMsg()),
			s(msgOf('3'), msgOf('1'), msgOf('2'), complete("DELETE 4"), ready())),
		want: []string{
			`OK SELECT rows=1 fields=2 stmt=st "SELECT a, b FROM t"`,
			`OK DELETE rows=4 fields=0 stmt=st "DELETE FROM t"`,
		},
	},
	{
		name: "failed start-up",
		steps: []step{c(startupMsg("mallory", "payroll")), s(msgOf('E', []byte{'S'}, cstr("FATAL"), []byte{'V'}, cstr("FATAL"),
			[]byte{'C'}, cstr("28P01"), []byte{'M'}, cstr("password authentication failed"), []byte{0}))},
		want: []string{`Error StartupMessage rows=0 fields=0 code=28P01 ""`},
	},
	{
		name: "SSLRequest answered N: plaintext start-up follows",
		steps: append([]step{c(i32(8), i32(codeSSL)), s([]byte{'N'})},
			withLogin(c(query("SELECT 1")), s(selectAnswer(1)))...),
		want: []string{`OK SELECT rows=1 fields=1 "SELECT 1"`},
	},
	{
		name: "SSLRequest answered S: one event, the TLS bytes are ignored",
		steps: []step{c(i32(8), i32(codeSSL)), s([]byte{'S'}),
			c([]byte{0x16, 0x03, 0x01, 0x00, 0x20}, query("SELECT 1")), s(selectAnswer(1))},
		want: []string{`OK SSLRequest rows=0 fields=0 tls ""`},
	},
	{
		name:  "GSSENCRequest answered G: one event, nothing after it",
		steps: []step{c(i32(8), i32(codeGSSENC)), s([]byte{'G'}), c([]byte("encrypted"), query("SELECT 1")), s(selectAnswer(1))},
		want:  []string{`OK GSSENCRequest rows=0 fields=0 ""`},
	},
	{
		name: "GSSENCRequest answered N: plaintext start-up follows",
		steps: append([]step{c(i32(8), i32(codeGSSENC)), s([]byte{'N'})},
			withLogin(c(query("SELECT 1")), s(selectAnswer(1)))...),
		want: []string{`OK SELECT rows=1 fields=1 "SELECT 1"`},
	},
	{
		name:  "start-up dropped at the password request is not an event",
		steps: []step{c(startupMsg("alice", "shop")), s(msgOf('R', i32(10), cstr("SCRAM-SHA-256"), []byte{0}))},
	},
	{
		name:  "a request open at Close",
		steps: withLogin(c(query("SELECT pg_sleep(100)"))),
		want:  []string{`Error SELECT rows=0 fields=0 note="` + noteNoResponse + `" "SELECT pg_sleep(100)"`},
	},
	{
		name:  "a request cut by Close is not an event",
		steps: withLogin(c(query("SELECT 1")[:7])),
	},
	{
		name: "server gap in an answer: that request is lost, the next pairs right",
		steps: withLogin(c(query("SELECT a")), s(rowDesc("a"), dataRow("1")[:5]), gapOf(protocols.ToClient, 100),
			s([]byte("tail of rows"), complete("SELECT 9"), ready()),
			c(query("SELECT b")), s(selectAnswer(2))),
		want: []string{
			`Error SELECT rows=0 fields=1 note="` + noteNoResponse + `" "SELECT a"`,
			`OK SELECT rows=2 fields=1 "SELECT b"`,
		},
	},
	{
		name: "client gap loses a whole Query: its answer is not given to the next",
		steps: withLogin(c(query("SELECT 1")), s(selectAnswer(1)),
			gapOf(protocols.ToServer, len(query("SELECT 2"))), s(selectAnswer(2)),
			c(query("SELECT 3")), s(selectAnswer(3))),
		want: []string{`OK SELECT rows=1 fields=1 "SELECT 1"`, `OK SELECT rows=3 fields=1 "SELECT 3"`},
	},
	{
		name: "client gap inside a batch: its answers are absorbed up to ReadyForQuery",
		steps: withLogin(c(parseMsg("", "SELECT 1"), bindMsg("", "")),
			gapOf(protocols.ToServer, len(executeMsg(""))+len(syncMsg())),
			s(msgOf('1'), msgOf('2'), dataRow("1"), complete("SELECT 1"), ready()),
			c(query("SELECT 3")), s(selectAnswer(3))),
		want: []string{`OK SELECT rows=3 fields=1 "SELECT 3"`},
	},
	{
		name:  "mid-stream on an idle connection",
		mid:   true,
		steps: []step{c(query("SELECT 1")), s(selectAnswer(1))},
		want:  []string{`OK SELECT rows=1 fields=1 "SELECT 1"`},
	},
	{
		name: "mid-stream inside both directions: resynchronised, nothing invented",
		mid:  true,
		steps: []step{c([]byte("id FROM t WHERE x = 'Q'\x00")), s(dataRow("abc", "def")[3:], dataRow("x", "y"), complete("SELECT 7"), ready()),
			c(query("SELECT 2")), s(selectAnswer(2))},
		want: []string{`OK SELECT rows=2 fields=1 "SELECT 2"`},
	},
	{
		name: "mid-stream Execute of a statement prepared before capture",
		mid:  true,
		steps: []step{c(bindMsg("", "P_1"), executeMsg(""), syncMsg()),
			s(msgOf('2'), dataRow("1"), complete("SELECT 1"), ready())},
		want: []string{`OK  rows=1 fields=0 stmt=P_1 note="` + noteNoStatement + `" ""`},
	},
}

func TestConversations(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			evs, _ := run(tc.steps, tc.mid, nil, 0)
			got := summaries(evs)
			if !slices.Equal(got, tc.want) {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, ev := range evs {
				if ev.Method == "StartupMessage" || ev.Method == "SSLRequest" || ev.Method == "GSSENCRequest" || tc.mid {
					continue
				}
				if ev.User == nil || ev.User.Name != "alice" || ev.DB == nil || ev.DB.Name != "shop" {
					t.Errorf("user/db of %s: %+v %+v", summary(ev), ev.User, ev.DB)
				}
			}
		})
	}
}

// TestChunking feeds every conversation and capture whole, one byte at a time and in odd
// chunks: the events must be the same.
func TestChunking(t *testing.T) {
	type input struct {
		name  string
		steps []step
		mid   bool
	}
	var inputs []input
	for _, tc := range convCases {
		inputs = append(inputs, input{tc.name, tc.steps, tc.mid})
	}
	for _, f := range []string{"simple.pcap", "pgx.pcap", "pgbench_extended.pcap"} {
		inputs = append(inputs, input{f, pcapSteps(t, f), false})
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			whole, _ := run(in.steps, in.mid, nil, 0)
			for _, chunk := range []int{1, 3, 7, 1000} {
				got, _ := run(in.steps, in.mid, nil, chunk)
				if !reflect.DeepEqual(got, whole) {
					t.Fatalf("chunk %d:\n%s\nwhole:\n%s", chunk, strings.Join(summaries(got), "\n"), strings.Join(summaries(whole), "\n"))
				}
			}
		})
	}
}

// pcapSteps is the first connection of a capture as steps.
func pcapSteps(t testing.TB, file string) []step {
	segs := readSegs(t, file)
	var steps []step
	for _, sg := range segs {
		if sg.Client != segs[0].Client || len(sg.Payload) == 0 {
			continue
		}
		steps = append(steps, step{dir: sg.Dir, data: sg.Payload})
	}
	return steps
}

// TestMalformed feeds bytes that are not PostgreSQL, or are cut or broken: no panic, no
// event, and nothing buffered past the bounds.
func TestMalformed(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	text := bytes.Repeat([]byte("lorem ipsum dolor sit amet, "), 2000)
	tests := []struct {
		name  string
		mid   bool
		steps []step
	}{
		{"random bytes both ways", false, []step{c(garbage[:30000]), s(garbage[30000:])}},
		{"random bytes mid-stream", true, []step{c(garbage[:30000]), s(garbage[30000:])}},
		{"text both ways", true, []step{c(text), s(text)}},
		{"HTTP on a PostgreSQL port", false, []step{c([]byte("GET / HTTP/1.1\r\nHost: db\r\n\r\n")), s([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))}},
		{"start-up length too small", false, []step{c(i32(3), i32(codeProtocol3))}},
		{"start-up length too large", false, []step{c(i32(1<<30), i32(codeProtocol3), text)}},
		{"unknown start-up code", false, []step{c(i32(8), i32(12345678)), s(authOK(), ready())}},
		{"negative message length", false, withLogin(c([]byte{'Q', 0xff, 0xff, 0xff, 0xf0}, text))},
		{"unknown message type", false, withLogin(c(msgOf('~', text)), s(selectAnswer(1)))},
		{"ReadyForQuery of the wrong size", false, withLogin(c(query("SELECT 1")[:4]), s(msgOf('Z', []byte("II"))))},
		{"Query without NUL, cut at Close", false, withLogin(c(msgOf('Q', []byte("SELECT 1"))[:8]))},
		{"answers without requests", false, withLogin(s(selectAnswer(5), errorMsg("XX000", "boom"), ready()))},
		{"Bind and Execute with broken bodies", false, withLogin(c(msgOf('B', []byte{1, 2, 3}), msgOf('D', nil), msgOf('C', nil), msgOf('S')), s(msgOf('2'), ready()))},
		{"ErrorResponse without terminator", false, withLogin(s(msgOf('E', []byte("SERROR"))))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{0, 1, 13} {
				evs, p := run(tc.steps, tc.mid, &protocols.Options{MaxMessageBytes: 4096}, chunk)
				if len(evs) > 0 {
					t.Errorf("chunk %d: invented events:\n%s", chunk, strings.Join(summaries(evs), "\n"))
				}
				checkBounds(t, p)
			}
		})
	}
}

// checkBounds asserts what a parser may hold.
func checkBounds(t testing.TB, p *parser) {
	t.Helper()
	for d := range p.rd {
		r := &p.rd[d]
		if cap(r.buf) > p.limit || cap(r.scan) > min(resyncWindow, p.limit) {
			t.Fatalf("reader %d holds buf %d scan %d bytes (limit %d)", d, cap(r.buf), cap(r.scan), p.limit)
		}
	}
	if len(p.queue) > maxPending || len(p.stmts) > maxNames || len(p.portals) > maxNames || p.stored > p.limit {
		t.Fatalf("queue %d, statements %d (%d bytes), portals %d", len(p.queue), len(p.stmts), p.stored, len(p.portals))
	}
}

func TestBounds(t *testing.T) {
	const limit = 64 << 10
	opts := &protocols.Options{MaxMessageBytes: limit}
	huge := strings.Repeat("x", 3<<20)
	t.Run("statement larger than the limit is cut and flagged", func(t *testing.T) {
		evs, p := run(withLogin(c(query("SELECT '"+huge+"'")), s(selectAnswer(1))), false, opts, 1500)
		checkBounds(t, p)
		if len(evs) != 1 || !evs[0].QueryTruncated || len(evs[0].Query) > limit || evs[0].Method != "SELECT" || evs[0].PgSQL.NumRows != 1 {
			t.Fatalf("%d events; truncated=%v len=%d", len(evs), evs[0].QueryTruncated, len(evs[0].Query))
		}
		if evs[0].Client.Bytes != uint64(len(query("SELECT '"+huge+"'"))) {
			t.Errorf("client bytes %d", evs[0].Client.Bytes)
		}
	})
	t.Run("rows are counted, not stored", func(t *testing.T) {
		steps := withLogin(c(query("SELECT big FROM t")), s(rowDesc("big"), dataRow(huge), dataRow(huge), complete("SELECT 2"), ready()))
		evs, p := run(steps, false, opts, 1500)
		checkBounds(t, p)
		if cap(p.rd[toClient].buf) > 512 {
			t.Errorf("server reader kept %d bytes for rows", cap(p.rd[toClient].buf))
		}
		if len(evs) != 1 || evs[0].PgSQL.NumRows != 2 || evs[0].Server.Bytes < uint64(2*len(huge)) {
			t.Fatalf("%s, %d server bytes", summaries(evs), evs[0].Server.Bytes)
		}
	})
	t.Run("a message that never ends", func(t *testing.T) {
		steps := withLogin(c([]byte{'Q'}, i32(1<<30), []byte("SELECT "), []byte(huge)))
		evs, p := run(steps, false, opts, 4096)
		checkBounds(t, p)
		if len(evs) != 0 {
			t.Fatalf("events: %s", summaries(evs))
		}
	})
	t.Run("many statements and portals", func(t *testing.T) {
		steps := slices.Clone(login)
		for i := range 2000 {
			n := strconv.Itoa(i)
			steps = append(steps, c(parseMsg("s"+n, "SELECT "+n+" /* "+strings.Repeat("y", 200)+" */"), bindMsg("p"+n, "s"+n)))
		}
		_, p := run(steps, false, opts, 0)
		checkBounds(t, p)
	})
	t.Run("requests that are never answered", func(t *testing.T) {
		steps := slices.Clone(login)
		for range 3000 {
			steps = append(steps, c(query("SELECT 1")))
		}
		evs, p := run(steps, false, opts, 0)
		checkBounds(t, p)
		if len(evs) != 3000 {
			t.Fatalf("%d events, want every request reported once", len(evs))
		}
	})
}

// TestNoStartup: a connection whose start-up was not seen but that is not flagged mid-stream
// (its first packet lost, say) still decodes from its first typed message.
func TestNoStartup(t *testing.T) {
	evs, _ := run([]step{c(query("SELECT 1")), s(selectAnswer(1)), c(query("SELECT 2")), s(selectAnswer(2))}, false, nil, 0)
	got := summaries(evs)
	want := []string{`OK SELECT rows=1 fields=1 "SELECT 1"`, `OK SELECT rows=2 fields=1 "SELECT 2"`}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestOptions: statement text goes through protocols.SetQuery, so masking and the length
// limit apply to simple and extended statements alike.
func TestOptions(t *testing.T) {
	opts := &protocols.Options{MaskLiterals: true, MaxQueryLength: 30}
	steps := withLogin(c(query("SELECT * FROM users WHERE name = 'alice' AND id = 42")), s(selectAnswer(1)),
		c(parseMsg("", "UPDATE users SET name = 'bob' WHERE id = 7"), bindMsg("", ""), executeMsg(""), syncMsg()),
		s(msgOf('1'), msgOf('2'), complete("UPDATE 1"), ready()))
	evs, _ := run(steps, false, opts, 0)
	want := []string{"SELECT * FROM users WHERE name", "UPDATE users SET name = ? WHER"}
	if len(evs) != 2 {
		t.Fatalf("events: %s", summaries(evs))
	}
	for i, ev := range evs {
		if ev.Query != want[i] || !ev.QueryTruncated || ev.QueryFingerprint == "" {
			t.Errorf("event %d: query %q truncated=%v fingerprint=%q", i, ev.Query, ev.QueryTruncated, ev.QueryFingerprint)
		}
	}
}

// TestBindNames: a portal rebound to statements that are prepared or not, and whose names
// differ in one character, names the statement of its last Bind each time.
func TestBindNames(t *testing.T) {
	p := New(&testConn, &protocols.Options{}, protocols.SinkFunc(func(ev *event.Event) { t.Errorf("event %+v", ev) })).(*parser)
	p.parse([]byte("P0_1"), p.intern([]byte("SELECT 1"), false))
	p.parse([]byte("P0_2"), p.intern([]byte("SELECT 2"), false))
	for _, tc := range []struct{ portal, stmt string }{
		{"", "P0_1"}, {"", "P0_2"}, {"", "P0_3"}, {"", "P0_3"}, {"", "P0_1"}, {"", "P0_4"}, {"c1", "P0_2"}, {"c1", "P0_5"},
	} {
		p.bind([]byte(tc.portal), []byte(tc.stmt))
		pt := p.portals[tc.portal]
		if pt.stmtName != tc.stmt || (pt.st != nil) != (tc.stmt <= "P0_2") || pt.st != nil && pt.st.name != tc.stmt {
			t.Errorf("after Bind %q to %q: portal names %q, statement %+v", tc.portal, tc.stmt, pt.stmtName, pt.st)
		}
	}
}
