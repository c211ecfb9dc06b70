package mysql

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

// TestLargePayloads feeds messages of 16 MiB and more, split into continuation packets: the
// parser keeps only the head of a statement and counts the rest.
func TestLargePayloads(t *testing.T) {
	bigQuery := append([]byte{comQuery}, "SELECT '"...)
	bigQuery = append(bigQuery, bytes.Repeat([]byte("é"), 9<<20)...) // 18 MiB, 2-byte runes
	bigQuery = append(bigQuery, '\'')
	exact := append([]byte{comQuery}, "SELECT '"...)
	exact = append(exact, bytes.Repeat([]byte("x"), maxPacket-len(exact)-1)...)
	exact = append(exact, '\'')
	bigRow := append([]byte{0xfe}, make([]byte, 8)...)
	bigRow[1], bigRow[4] = 0x00, 0x01 // a 16 MiB string
	bigRow = append(bigRow, bytes.Repeat([]byte("y"), 1<<24)...)
	tests := []struct {
		name      string
		opts      *protocols.Options
		steps     []step
		want      string
		queryLen  int
		truncated bool
		clientLen uint64
		serverLen uint64
	}{
		{"18 MiB query, default limit", nil,
			[]step{c2s(pkt(0, bigQuery)), s2c(okPkt(2, 1, 0, 2))},
			`SELECT OK affected=1 id=0 q="SELECT 'éééééééééééééééé..."`,
			protocols.DefaultMaxMessageBytes - 2, true, uint64(len(bigQuery) + 8), 11},
		{"18 MiB query, 1000-byte limit", &protocols.Options{MaxMessageBytes: 1000},
			[]step{c2s(pkt(0, bigQuery)), s2c(okPkt(2, 1, 0, 2))},
			`SELECT OK affected=1 id=0 q="SELECT 'éééééééééééééééé..."`,
			998, true, uint64(len(bigQuery) + 8), 11},
		{"query of exactly 16 MiB - 1: an empty packet ends it", &protocols.Options{MaxMessageBytes: 100},
			[]step{c2s(pkt(0, exact)), s2c(okPkt(2, 0, 0, 2))},
			`SELECT OK q="SELECT 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..."`,
			99, true, uint64(len(exact) + 8), 11},
		{"16 MiB row", nil,
			[]step{c2s(cmdPkt(comQuery, "SELECT b FROM t")), s2c(pkt(1, []byte{1}), colDefPkt(2), eofPkt(3, 0), pkt(4, bigRow), rowPkt(6, "z"), eofPkt(7, 0))},
			`SELECT OK fields=1 rows=2 q="SELECT b FROM t"`,
			15, false, 20, uint64(5 + len(colDefPkt(2)) + 9 + len(bigRow) + 8 + 6 + 9)},
	}
	for _, tc := range tests {
		for _, chunk := range []int{0, 65536, 1000003} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, chunk), func(t *testing.T) {
				evs, most := run(false, tc.opts, chunk, tc.steps...)
				if len(evs) != 1 {
					t.Fatalf("%d events: %v", len(evs), summaries(evs))
				}
				ev := evs[0]
				if got := summary(ev); got != tc.want {
					t.Errorf("event %s\nwant %s", got, tc.want)
				}
				if len(ev.Query) != tc.queryLen || ev.QueryTruncated != tc.truncated {
					t.Errorf("query of %d bytes, truncated %v; want %d bytes", len(ev.Query), ev.QueryTruncated, tc.queryLen)
				}
				if ev.Client.Bytes != tc.clientLen || ev.Server.Bytes != tc.serverLen {
					t.Errorf("bytes client %d server %d, want %d %d", ev.Client.Bytes, ev.Server.Bytes, tc.clientLen, tc.serverLen)
				}
				if limit := tc.opts.MessageLimit() + serverKeep; most > limit {
					t.Errorf("buffered %d bytes, limit %d", most, limit)
				}
			})
		}
	}
}

// TestMidStream starts the captures at every segment, as a capture that began on a live
// connection would: whatever is decoded must be the tail of what the whole capture gives, and
// nothing is invented. User and database come only from the handshake, and executes of
// statements prepared before the start have no text, so the comparison leaves those out.
func TestMidStream(t *testing.T) {
	key := func(ev *event.Event) string {
		ev.User, ev.DB = nil, nil
		if ev.MySQL != nil && ev.MySQL.StatementID != 0 && ev.Method != "PREPARE" {
			ev.Method, ev.Query = "EXECUTE", ""
		}
		return summary(ev)
	}
	midStream := func(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
		c.MidStream = true
		return New(c, opts, sink)
	}
	for _, file := range []string{"cli.pcap", "prepared.pcap"} {
		segs := protocoltest.ReadSegments(t, "testdata/"+file, testPort)
		fullEvs := protocoltest.Replay(segs, New, nil)
		var full []string
		for _, ev := range fullEvs {
			full = append(full, key(ev))
		}
		for k := range segs {
			var got []string
			for _, ev := range protocoltest.Replay(segs[k:], midStream, nil) {
				got = append(got, key(ev))
			}
			// Every command whose request lies in the remaining segments must be there,
			// less the one that may be cut at the start.
			left := 0
			for _, ev := range fullEvs {
				if !ev.Event.Start.Before(segs[k].TS) {
					left++
				}
			}
			if len(got) > len(full) || !slices.Equal(got, full[len(full)-len(got):]) || len(got) < left-1 {
				t.Errorf("%s from segment %d: %d commands left, events:\n%s", file, k, left, strings.Join(got, "\n"))
			}
		}
	}
}

func TestDetect(t *testing.T) {
	cli := protocoltest.ReadSegments(t, "testdata/cli.pcap", testPort)
	var greeting, login, command []byte
	for _, s := range cli {
		switch {
		case len(s.Payload) == 0:
		case greeting == nil && s.Dir == protocols.ToClient:
			greeting = s.Payload
		case login == nil && s.Dir == protocols.ToServer:
			login = s.Payload
		case command == nil && s.Dir == protocols.ToServer:
			command = s.Payload
		}
	}
	tests := []struct {
		name  string
		first []byte
		dir   protocols.Dir
		want  bool
	}{
		{"server greeting", greeting, protocols.ToClient, true},
		{"server greeting, first 40 bytes", greeting[:40], protocols.ToClient, true},
		{"handshake response", login, protocols.ToServer, true},
		{"command", command, protocols.ToServer, true},
		{"ping", cmdPkt(comPing, ""), protocols.ToServer, true},
		{"execute", executePkt(1), protocols.ToServer, true},
		{"greeting toward the server", greeting, protocols.ToServer, false},
		{"command toward the client", command, protocols.ToClient, false},
		{"HTTP", []byte("GET / HTTP/1.1\r\nHost: db\r\n\r\n"), protocols.ToServer, false},
		{"HTTP response", []byte("HTTP/1.1 200 OK\r\n\r\n"), protocols.ToClient, false},
		{"TLS client hello", []byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), protocols.ToServer, false},
		{"PostgreSQL startup", []byte("\x00\x00\x00\x08\x04\xd2\x16\x2f"), protocols.ToServer, false},
		{"PostgreSQL query", []byte("Q\x00\x00\x00\x0dSELECT 1\x00"), protocols.ToServer, false},
		{"Redis", []byte("*1\r\n$4\r\nPING\r\n"), protocols.ToServer, false},
		{"Redis reply", []byte("+PONG\r\n"), protocols.ToClient, false},
		{"query with binary text", cmdPkt(comQuery, "\x00\x01\x02"), protocols.ToServer, false},
		{"query followed by junk", append(cmdPkt(comQuery, "SELECT 1"), "junk"...), protocols.ToServer, false},
		{"two commands followed by junk", cat(cmdPkt(comQuery, "SELECT 1"), cmdPkt(comPing, ""), []byte("junk")), protocols.ToServer, false},
		{"pipelined commands", bytes.Repeat(cmdPkt(comPing, ""), 5), protocols.ToServer, true},
		{"empty", nil, protocols.ToServer, false},
		{"short", []byte{1, 0, 0}, protocols.ToClient, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.first, tc.dir); got != tc.want {
				t.Errorf("Detect = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStatementCacheBounds(t *testing.T) {
	var c stmtCache
	opts := &protocols.Options{}
	long := "SELECT '" + strings.Repeat("x", 10<<10) + "'"
	for i := range uint32(2000) {
		q := "SELECT 1"
		if i%3 == 0 {
			q = long
		}
		c.put(i, q, false, opts)
		if len(c.m) > maxStmts || c.bytes > maxStmtBytes {
			t.Fatalf("after %d statements: %d kept, %d bytes", i+1, len(c.m), c.bytes)
		}
	}
	if s := c.get(1999); s == nil || s.query != "SELECT 1" {
		t.Errorf("the newest statement must be kept: %+v", s)
	}
	c.remove(1999)
	if c.get(1999) != nil || c.get(lastPrepared) == nil {
		t.Error("remove must drop the statement, and the last prepared one stays addressable")
	}
}
