package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	xhttp2 "golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/http2"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
	"github.com/audit-io/wire-audit/internal/testenv"
)

// The HTTP/2 captures of protocols/http2 (its testdata/capture.sh), by server port: nginx
// with prior knowledge, a Go h2c server reached by Upgrade and by prior knowledge, and
// grpc-go.
var h2Pcaps = []struct {
	file string
	port uint16
}{{"nginx.pcap", 18081}, {"h2c.pcap", 18082}, {"grpc.pcap", 18083}}

func h2Replay(t *testing.T, file string, port uint16) []*event.Event {
	t.Helper()
	segs := protocoltest.ReadSegments(t, filepath.Join("..", "http2", "testdata", file), port)
	return protocoltest.Replay(segs, New, nil)
}

// h2Summary is what is compared with tshark: client port, method, path, final status,
// grpc-status and gRPC messages per direction.
func h2Summary(ev *event.Event) string {
	s := fmt.Sprintf("%d %s %s", ev.Client.Port, ev.Method, ev.URL.Original)
	if r := ev.HTTP.Response; r != nil {
		s += " " + strconv.Itoa(r.StatusCode)
	}
	if ev.RPC != nil {
		if c := ev.RPC.GRPC.StatusCode; c != nil {
			s += " grpc-status=" + strconv.Itoa(*c)
		}
		s += fmt.Sprintf(" msgs=%d/%d", ev.RPC.GRPC.RequestMessages, ev.RPC.GRPC.ResponseMessages)
	}
	return s
}

// TestH2Pcaps replays the HTTP/2 captures through this parser, which hands them to
// protocols/http2 (prior knowledge, and Upgrade: h2c after the 101), and compares every
// stream with tshark's http2 and grpc dissection of the same file.
func TestH2Pcaps(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		testenv.Missing(t, "tshark not installed")
	}
	for _, pc := range h2Pcaps {
		t.Run(pc.file, func(t *testing.T) {
			var ours []string
			for _, ev := range h2Replay(t, pc.file, pc.port) {
				if ev.HTTP.Version != "2" {
					t.Errorf("an HTTP/%s event: %s", ev.HTTP.Version, h2Summary(ev))
				}
				ours = append(ours, h2Summary(ev))
			}
			theirs := tsharkStreams(t, filepath.Join("..", "http2", "testdata", pc.file), pc.port)
			slices.Sort(ours)
			slices.Sort(theirs)
			t.Logf("%d streams, as tshark", len(ours))
			if len(ours) == 0 || !slices.Equal(ours, theirs) {
				t.Errorf("streams differ from tshark's:\nours\n  %s\ntshark\n  %s", strings.Join(ours, "\n  "), strings.Join(theirs, "\n  "))
			}
		})
	}
}

// h2Stream is what tshark shows of one stream.
type h2Stream struct {
	clientPort         string
	method, path       string
	status, grpcStatus string
	grpc               bool
	msgs               [2]int
	requestSeen        bool
}

// tsharkStreams dissects file with tshark (JSON, every frame of every packet) and returns one
// h2Summary line per stream that carried a request: the HTTP/1.1 request of an upgrade counts
// as stream 1's.
func tsharkStreams(t *testing.T, file string, port uint16) []string {
	t.Helper()
	out, err := exec.Command("tshark", "-n", "-r", file, "-d", fmt.Sprintf("tcp.port==%d,http", port),
		"-T", "json", "--no-duplicate-keys").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var pkts []struct {
		Source struct {
			Layers map[string]any `json:"layers"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(out, &pkts); err != nil {
		t.Fatalf("tshark json: %v", err)
	}
	streams := map[string]*h2Stream{}
	var order []string
	get := func(conn, id, client string) *h2Stream {
		k := conn + "/" + id
		if streams[k] == nil {
			streams[k] = &h2Stream{clientPort: client}
			order = append(order, k)
		}
		return streams[k]
	}
	for _, p := range pkts {
		l := p.Source.Layers
		tcp, _ := l["tcp"].(map[string]any)
		conn := str(tcp["tcp.stream"])
		toServer := str(tcp["tcp.dstport"]) == strconv.Itoa(int(port))
		client := str(tcp["tcp.srcport"])
		if !toServer {
			client = str(tcp["tcp.dstport"])
		}
		if h, ok := l["http"].(map[string]any); ok && toServer {
			if m := str(h["http.request.method"]); m == "" {
				for k, v := range h { // the request line's own subtree
					if sub, ok := v.(map[string]any); ok && strings.HasSuffix(k, "\\r\\n") {
						if m = str(sub["http.request.method"]); m != "" {
							s := get(conn, "1", client)
							s.method, s.path, s.requestSeen = m, str(sub["http.request.uri"]), true
						}
					}
				}
			}
		}
		dataStreams := map[string]bool{}
		for _, h2 := range list(l["http2"]) {
			for _, fr := range list(h2.(map[string]any)["http2.stream"]) {
				f := fr.(map[string]any)
				id, typ := str(f["http2.streamid"]), str(f["http2.type"])
				if id == "" || id == "0" {
					continue
				}
				s := get(conn, id, client)
				switch typ {
				case "0":
					dataStreams[id] = true
				case "1":
					for _, hh := range list(f["http2.header"]) {
						hf := hh.(map[string]any)
						name, val := str(hf["http2.header.name"]), str(hf["http2.header.value"])
						switch name {
						case ":method":
							s.method, s.requestSeen = val, true
						case ":path":
							s.path = val
						case ":status":
							if val >= "200" {
								s.status = val
							}
						case "grpc-status":
							s.grpcStatus = val
						case "content-type":
							s.grpc = s.grpc || strings.HasPrefix(val, "application/grpc")
						}
					}
				}
			}
		}
		// tshark's grpc layers in this packet belong to its DATA frames' stream.
		if n := len(list(l["grpc"])); n > 0 {
			if len(dataStreams) != 1 {
				t.Fatalf("packet with gRPC messages of %d streams", len(dataStreams))
			}
			for id := range dataStreams {
				d := 1
				if toServer {
					d = 0
				}
				get(conn, id, client).msgs[d] += n
			}
		}
	}
	var lines []string
	for _, k := range order {
		s := streams[k]
		if !s.requestSeen {
			continue
		}
		line := fmt.Sprintf("%s %s %s", s.clientPort, s.method, s.path)
		if s.status != "" {
			line += " " + s.status
		}
		if s.grpc {
			if s.grpcStatus != "" {
				line += " grpc-status=" + s.grpcStatus
			}
			line += fmt.Sprintf(" msgs=%d/%d", s.msgs[0], s.msgs[1])
		}
		lines = append(lines, line)
	}
	return lines
}

func list(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	}
	return []any{v}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// TestH2MidStream: a gRPC connection whose capture begins after its first calls is handed to
// HTTP/2 from its first segment of frames, and reports the later calls, each as the whole
// capture does or with fields missing, never different.
func TestH2MidStream(t *testing.T) {
	segs := protocoltest.ReadSegments(t, filepath.Join("..", "http2", "testdata", "grpc.pcap"), 18083)
	full := map[int64]string{}
	for _, ev := range protocoltest.Replay(segs, New, nil) {
		full[ev.Event.Start.UnixNano()] = h2Summary(ev)
	}
	var withData []protocoltest.Segment
	for _, sg := range segs {
		if len(sg.Payload) > 0 {
			withData = append(withData, sg)
		}
	}
	reported := 0
	for cut := len(withData) / 3; cut < len(withData); cut++ {
		var sink protocoltest.Collector
		conn := protocols.Conn{Client: withData[0].Client, Server: withData[0].Server, Transport: "tcp", MidStream: true}
		p := New(&conn, nil, &sink)
		for _, sg := range withData[cut:] {
			p.Data(sg.Dir, sg.Payload, sg.TS)
		}
		p.Close(withData[len(withData)-1].TS)
		for _, ev := range sink.Events {
			reported++
			want, ok := full[ev.Event.Start.UnixNano()]
			got := h2Summary(ev)
			if !ok || ev.HTTP.Version != "2" || !ev.HTTP.HeadersIncomplete && got != want {
				t.Errorf("cut at segment %d: %s, whole capture %q", cut, got, want)
			}
		}
	}
	if reported == 0 {
		t.Error("no call reported from any cut")
	}
}

// TestH2EitherSpeaksFirst: an HTTP/2 server sends its SETTINGS as soon as it accepts, so its
// first bytes may come before the client's preface; either order hands the connection over.
func TestH2EitherSpeaksFirst(t *testing.T) {
	segs := protocoltest.ReadSegments(t, filepath.Join("..", "http2", "testdata", "grpc.pcap"), 18083)
	want := protocoltest.Replay(segs, New, nil)
	first := map[protocols.Dir]int{}
	for i, sg := range segs {
		if _, ok := first[sg.Dir]; !ok && len(sg.Payload) > 0 {
			first[sg.Dir] = i
		}
	}
	// Move the other side's first segment in front.
	a, b := min(first[protocols.ToServer], first[protocols.ToClient]), max(first[protocols.ToServer], first[protocols.ToClient])
	swapped := slices.Clone(segs)
	moved := swapped[b]
	copy(swapped[a+1:b+1], swapped[a:b])
	swapped[a] = moved
	got := protocoltest.Replay(swapped, New, nil)
	if len(got) != len(want) || len(want) != 5 {
		t.Fatalf("%d events in the other order, %d in capture order", len(got), len(want))
	}
	for i := range got {
		if h2Summary(got[i]) != h2Summary(want[i]) {
			t.Errorf("event %d: %s, in capture order %s", i, h2Summary(got[i]), h2Summary(want[i]))
		}
	}
}

// TestH2ServerSettingsFirst: the server's SETTINGS, sent before the client's preface, reaches
// the HTTP/2 decoder: it allows the client a 16 KiB header table, which the client's first
// header block then uses.
func TestH2ServerSettingsFirst(t *testing.T) {
	var srv, cli, hb bytes.Buffer
	sf, cf := xhttp2.NewFramer(&srv, nil), xhttp2.NewFramer(&cli, nil)
	if err := sf.WriteSettings(xhttp2.Setting{ID: xhttp2.SettingHeaderTableSize, Val: 16384}); err != nil {
		t.Fatal(err)
	}
	settings := slices.Clone(srv.Bytes())
	srv.Reset()
	enc := hpack.NewEncoder(&hb)
	enc.SetMaxDynamicTableSizeLimit(16384)
	enc.SetMaxDynamicTableSize(16384)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "h"}, {":path", "/first"}} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	cli.WriteString(http2.Preface)
	if err := errors.Join(cf.WriteSettings(), cf.WriteSettingsAck(),
		cf.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})); err != nil {
		t.Fatal(err)
	}
	// The server's encoder has its own table: a fresh encoder for its side.
	var rb bytes.Buffer
	if err := hpack.NewEncoder(&rb).WriteField(hpack.HeaderField{Name: ":status", Value: "204"}); err != nil {
		t.Fatal(err)
	}
	if err := sf.WriteHeaders(xhttp2.HeadersFrameParam{StreamID: 1, BlockFragment: rb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	var sink protocoltest.Collector
	p := New(&testConn, nil, &sink)
	ts := time.Unix(1700000000, 0)
	p.Data(protocols.ToClient, settings, ts)
	p.Data(protocols.ToServer, cli.Bytes(), ts)
	p.Data(protocols.ToClient, srv.Bytes(), ts)
	p.Close(ts)
	if len(sink.Events) != 1 || sink.Events[0].HTTP.HeadersIncomplete || sink.Events[0].URL.Original != "/first" || sink.Events[0].HTTP.Response.StatusCode != 204 {
		t.Fatalf("events %+v", sink.Events)
	}
}
