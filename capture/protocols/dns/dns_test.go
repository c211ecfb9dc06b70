package dns

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
	"github.com/audit-io/wire-audit/internal/testenv"
)

// testPort is where testdata/capture.sh runs dnsmasq.
const testPort = 15353

type datagram struct {
	src, dst netip.AddrPort
	payload  []byte
	ts       time.Time
}

// readDatagrams returns the UDP payloads of a pcap in capture order.
func readDatagrams(tb testing.TB, path string) []datagram {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var out []datagram
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		u, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if u == nil {
			continue
		}
		src, _ := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Src().Raw())
		dst, _ := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Dst().Raw())
		out = append(out, datagram{netip.AddrPortFrom(src, uint16(u.SrcPort)), netip.AddrPortFrom(dst, uint16(u.DstPort)), u.Payload, ci.Timestamp})
	}
}

func replayUDP(tb testing.TB, dgs []datagram, opts *protocols.Options) []*event.Event {
	var sink protocoltest.Collector
	u := NewUDP("lo", opts, &sink)
	for _, d := range dgs {
		u.Datagram(d.src, d.dst, d.payload, d.ts)
	}
	if len(dgs) > 0 {
		u.Close(dgs[len(dgs)-1].ts)
	}
	return sink.Events
}

// want is what capture.sh asked and what dig printed, transaction by transaction.
type want struct {
	name, typ, rcode string
	data             []string // answers' data
	types            []string
}

const zone = "wire-audit.test"

var wantCapture = []want{
	{"www." + zone, "A", "NOERROR", []string{"10.231.7.8"}, []string{"A"}},
	{"www." + zone, "AAAA", "NOERROR", []string{"fd00:231::7:8"}, []string{"AAAA"}},
	{"txt." + zone, "TXT", "NOERROR", []string{"v=audit1 hello world"}, []string{"TXT"}},
	{zone, "MX", "NOERROR", []string{"mail." + zone}, []string{"MX"}},
	{"_sql._tcp." + zone, "SRV", "NOERROR", []string{"db." + zone}, []string{"SRV"}},
	{"alias." + zone, "A", "NOERROR", []string{"www." + zone, "10.231.7.8"}, []string{"CNAME", "A"}},
	{"nope." + zone, "A", "NXDOMAIN", nil, nil},
}

func checkEvents(t *testing.T, evs []*event.Event, transport string) {
	t.Helper()
	if len(evs) != len(wantCapture) {
		t.Fatalf("%d events, want %d", len(evs), len(wantCapture))
	}
	for i, w := range wantCapture {
		ev := evs[i]
		d := ev.DNS
		if ev.Type != event.TypeDNS || d == nil || ev.Network.Transport != transport {
			t.Fatalf("event %d: type %q transport %q dns %v", i, ev.Type, ev.Network.Transport, d)
		}
		var data, types []string
		for _, a := range d.Answers {
			data, types = append(data, a.Data), append(types, a.Type)
			if a.Class != "IN" {
				t.Errorf("event %d: answer class %q", i, a.Class)
			}
		}
		if d.Question.Name != w.name || d.Question.Type != w.typ || d.Question.Class != "IN" || d.ResponseCode != w.rcode ||
			!slices.Equal(data, w.data) || !slices.Equal(types, w.types) {
			t.Errorf("event %d: %s %s %s %s %v %v; want %+v", i, d.Question.Name, d.Question.Type, d.Question.Class, d.ResponseCode, data, types, w)
		}
		wantStatus := event.StatusOK
		if w.rcode != "NOERROR" {
			wantStatus = event.StatusError
		}
		if ev.Status != wantStatus || ev.Error != nil || ev.Event.Duration <= 0 || ev.Server.Port != testPort ||
			ev.Client.Bytes == 0 || ev.Server.Bytes == 0 || d.AnswersCount != len(w.data) || d.AdditionalsCount != 1 {
			t.Errorf("event %d: status %q error %v duration %d server %v bytes %d/%d counts %d/%d", i, ev.Status, ev.Error,
				ev.Event.Duration, ev.Server, ev.Client.Bytes, ev.Server.Bytes, d.AnswersCount, d.AdditionalsCount)
		}
		if !d.Flags.RecursionDesired || d.OpCode != "QUERY" || ev.Method != "QUERY" ||
			ev.Query != "class IN, type "+w.typ+", "+w.name {
			t.Errorf("event %d: flags %+v opcode %q method %q query %q", i, d.Flags, d.OpCode, ev.Method, ev.Query)
		}
	}
	// The SRV and MX numbers dnsmasq was given.
	if a := evs[4].DNS.Answers[0]; a.Priority != 5 || a.Weight != 20 || a.Port != 3306 {
		t.Errorf("SRV: %+v", a)
	}
	if a := evs[3].DNS.Answers[0]; a.Preference != 10 {
		t.Errorf("MX: %+v", a)
	}
	if ips := evs[5].DNS.ResolvedIP; len(ips) != 1 || ips[0].String() != "10.231.7.8" {
		t.Errorf("resolved_ip: %v", ips)
	}
}

func TestUDPCapture(t *testing.T) {
	evs := replayUDP(t, readDatagrams(t, "testdata/udp.pcap"), nil)
	checkEvents(t, evs, "udp")
}

func TestTCPCapture(t *testing.T) {
	segs := protocoltest.ReadSegments(t, "testdata/tcp.pcap", testPort)
	evs := protocoltest.Replay(segs, NewTCP, nil)
	checkEvents(t, evs, "tcp")
}

// TestTshark cross-checks every response against tshark's dissection of the same files: id,
// question, response code and the data of every answer.
func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		testenv.Missing(t, "tshark not installed")
	}
	for _, file := range []string{"udp", "tcp"} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			var evs []*event.Event
			if file == "udp" {
				evs = replayUDP(t, readDatagrams(t, "testdata/udp.pcap"), nil)
			} else {
				evs = protocoltest.Replay(protocoltest.ReadSegments(t, "testdata/tcp.pcap", testPort), NewTCP, nil)
			}
			got := map[string]string{}
			for _, ev := range evs {
				var data []string
				for _, a := range ev.DNS.Answers {
					data = append(data, a.Data)
				}
				slices.Sort(data)
				got[strconv.Itoa(int(ev.DNS.ID))] = strings.Join([]string{ev.DNS.Question.Name, ev.DNS.Question.Type,
					ev.DNS.ResponseCode, strings.Join(data, ",")}, "|")
			}
			want := tsharkResponses(t, "testdata/"+file+".pcap")
			if len(want) != len(wantCapture) {
				t.Fatalf("tshark found %d responses", len(want))
			}
			for id, w := range want {
				if got[id] != w {
					t.Errorf("id %s: parser %q, tshark %q", id, got[id], w)
				}
			}
		})
	}
}

func tsharkResponses(t *testing.T, file string) map[string]string {
	out, err := exec.Command("tshark", "-n", "-r", file, "-d", "udp.port==15353,dns", "-d", "tcp.port==15353,dns",
		"-Y", "dns.flags.response == 1", "-T", "fields", "-E", "separator=|", "-E", "aggregator=;",
		"-e", "dns.id", "-e", "dns.qry.name", "-e", "dns.qry.type", "-e", "dns.flags.rcode",
		"-e", "dns.a", "-e", "dns.aaaa", "-e", "dns.txt", "-e", "dns.mx.mail_exchange", "-e", "dns.srv.target", "-e", "dns.cname").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	res := map[string]string{}
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		f := strings.Split(strings.TrimRight(line, "\n"), "|")
		id, _ := strconv.ParseUint(strings.TrimPrefix(f[0], "0x"), 16, 16)
		qtype, _ := strconv.Atoi(f[2])
		rcode, _ := strconv.Atoi(f[3])
		var data []string
		for i, v := range f[4:] {
			if v == "" {
				continue
			}
			if i == 2 { // TXT: the strings of one record, joined as the parser does
				data = append(data, strings.ReplaceAll(v, ";", " "))
				continue
			}
			data = append(data, strings.Split(v, ";")...)
		}
		slices.Sort(data)
		res[strconv.Itoa(int(id))] = strings.Join([]string{f[1], typeName(uint16(qtype)), rcodeName(uint8(rcode)), strings.Join(data, ",")}, "|")
	}
	return res
}
