// Package protocoltest helps parser tests: it feeds the TCP payloads of a small, clean capture
// (loopback, no loss, in order) to a StreamParser per connection, and collects the events.
// It is not reassembly: it trusts the capture to be in order, which holds for the loopback
// captures in the parsers' testdata. Real reassembly is tested in capture/reassembly.
package protocoltest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// Collector is a Sink that keeps every event.
type Collector struct {
	mu     sync.Mutex
	Events []*event.Event
}

// Emit keeps ev.
func (c *Collector) Emit(ev *event.Event) {
	c.mu.Lock()
	c.Events = append(c.Events, ev)
	c.mu.Unlock()
}

// Segment is one TCP payload of a capture, in capture order.
type Segment struct {
	Client, Server netip.AddrPort
	Dir            protocols.Dir
	Payload        []byte
	Seq            uint32
	TS             time.Time
	SYN, FIN, RST  bool
}

// ReadSegments returns the TCP segments of the pcap or pcapng file at path whose source or
// destination port is serverPort, each tagged with its direction.
func ReadSegments(tb testing.TB, path string, serverPort uint16) []Segment {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	src, err := openCapture(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	var segs []Segment
	for {
		data, ci, err := src.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		pkt := gopacket.NewPacket(data, src.LinkType(), gopacket.NoCopy)
		tcpL, _ := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcpL == nil || pkt.NetworkLayer() == nil {
			continue
		}
		srcIP, _ := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Src().Raw())
		dstIP, _ := netip.AddrFromSlice(pkt.NetworkLayer().NetworkFlow().Dst().Raw())
		s := netip.AddrPortFrom(srcIP.Unmap(), uint16(tcpL.SrcPort))
		d := netip.AddrPortFrom(dstIP.Unmap(), uint16(tcpL.DstPort))
		seg := Segment{Payload: tcpL.Payload, Seq: tcpL.Seq, TS: ci.Timestamp, SYN: tcpL.SYN, FIN: tcpL.FIN, RST: tcpL.RST}
		switch serverPort {
		case d.Port():
			seg.Client, seg.Server, seg.Dir = s, d, protocols.ToServer
		case s.Port():
			seg.Client, seg.Server, seg.Dir = d, s, protocols.ToClient
		default:
			continue
		}
		segs = append(segs, seg)
	}
	return segs
}

type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

func openCapture(f *os.File) (packetSource, error) {
	if r, err := pcapgo.NewReader(f); err == nil {
		return r, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, fmt.Errorf("neither pcap nor pcapng: %w", err)
	}
	return r, nil
}

// Replay feeds segs to one parser per connection made by factory, closes every parser at the
// end, and returns the events in emit order. Bytes a segment repeats (a retransmission) are
// dropped by sequence number, and bytes that never appear are reported as a Gap; segments
// must otherwise be in order.
func Replay(segs []Segment, factory protocols.Factory, opts *protocols.Options) []*event.Event {
	var sink Collector
	type half struct {
		started bool
		next    uint32
	}
	type conn struct {
		p    protocols.StreamParser
		half [2]half
	}
	conns := map[[2]netip.AddrPort]*conn{}
	var order [][2]netip.AddrPort
	var last time.Time
	for _, s := range segs {
		key := [2]netip.AddrPort{s.Client, s.Server}
		c, ok := conns[key]
		if !ok {
			info := &protocols.Conn{Client: s.Client, Server: s.Server, Transport: "tcp", CommunityID: "test"}
			c = &conn{p: factory(info, opts, &sink)}
			conns[key] = c
			order = append(order, key)
		}
		last = s.TS
		h := &c.half[s.Dir]
		seq := s.Seq
		if s.SYN {
			seq++
		}
		if !h.started {
			h.started, h.next = true, seq
		}
		data := s.Payload
		switch off := int32(seq - h.next); {
		case off < 0 && int(-off) >= len(data):
			continue // all seen already
		case off < 0:
			data = data[-off:]
		case off > 0:
			c.p.Gap(s.Dir, int(off), s.TS)
		}
		if len(data) > 0 {
			c.p.Data(s.Dir, data, s.TS)
		}
		h.next = seq + uint32(len(s.Payload))
	}
	for _, k := range order {
		conns[k].p.Close(last)
	}
	return sink.Events
}

// Halves concatenates the payloads of segs per direction: what the client sent and what the
// server sent.
func Halves(segs []Segment) (cli, srv []byte) {
	for _, s := range segs {
		if s.Dir == protocols.ToServer {
			cli = append(cli, s.Payload...)
		} else {
			srv = append(srv, s.Payload...)
		}
	}
	return cli, srv
}

// Feed drives p the way fuzz targets do: Data calls alternate between the directions, their
// sizes taken in turn from cuts (a zero is a Gap of one byte), until cli and srv are used up;
// check runs after each call. It then closes p and returns the last timestamp.
func Feed(p protocols.StreamParser, cli, srv, cuts []byte, check func()) time.Time {
	ts := time.Unix(1700000000, 0)
	dirs := [2][]byte{cli, srv}
	for i := 0; len(dirs[0])+len(dirs[1]) > 0; i++ {
		cut := 1
		if len(cuts) > 0 {
			cut = int(cuts[i%len(cuts)])
		}
		d := i & 1
		if len(dirs[d]) == 0 {
			d ^= 1
		}
		ts = ts.Add(time.Microsecond)
		if cut == 0 {
			dirs[d] = dirs[d][1:]
			p.Gap(protocols.Dir(d), 1, ts)
		} else {
			k := min(cut, len(dirs[d]))
			p.Data(protocols.Dir(d), dirs[d][:k], ts)
			dirs[d] = dirs[d][k:]
		}
		if check != nil {
			check()
		}
	}
	p.Close(ts)
	return ts
}

// Golden compares the JSON of evs, one event per line, with the file at path; with update it
// rewrites the file first.
func Golden(tb testing.TB, path string, evs []*event.Event, update bool) {
	tb.Helper()
	var buf bytes.Buffer
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			tb.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		tb.Errorf("events differ from %s (run with -update and review the diff):\n%s", path, buf.String())
	}
}

// Step is one call in a scripted conversation: Data of Dir with Data, or, when Gap > 0, a Gap
// of that many bytes.
type Step struct {
	Dir  protocols.Dir
	Data string
	Gap  int
}

// Drive plays steps on p, each Data whole or, with chunk > 0, in calls of at most chunk bytes,
// one millisecond apart, then closes p.
func Drive(p protocols.StreamParser, steps []Step, chunk int) {
	ts := time.Unix(1700000000, 0)
	for _, st := range steps {
		ts = ts.Add(time.Millisecond)
		if st.Gap > 0 {
			p.Gap(st.Dir, st.Gap, ts)
			continue
		}
		d := []byte(st.Data)
		for len(d) > 0 {
			k := len(d)
			if chunk > 0 {
				k = min(k, chunk)
			}
			p.Data(st.Dir, d[:k], ts)
			d = d[k:]
		}
	}
	p.Close(ts)
}

// StepHalves concatenates the data of steps per direction, for fuzz seeds.
func StepHalves(steps []Step) (cli, srv []byte) {
	for _, st := range steps {
		if st.Dir == protocols.ToServer {
			cli = append(cli, st.Data...)
		} else {
			srv = append(srv, st.Data...)
		}
	}
	return cli, srv
}

// BenchReplay benchmarks factory on the connections of segs, a new parser per connection per
// iteration, and reports the cost per packet (TCP segment with payload): ns/pkt, pkts/s and
// allocs/pkt, and the events per iteration.
func BenchReplay(b *testing.B, segs []Segment, factory protocols.Factory, opts *protocols.Options) {
	type conn struct {
		c    protocols.Conn
		dirs []protocols.Dir
		data [][]byte
	}
	var conns []*conn
	byClient := map[netip.AddrPort]*conn{}
	var size, pkts int
	for _, sg := range segs {
		if len(sg.Payload) == 0 {
			continue
		}
		cn := byClient[sg.Client]
		if cn == nil {
			cn = &conn{c: protocols.Conn{Client: sg.Client, Server: sg.Server, Transport: "tcp"}}
			byClient[sg.Client] = cn
			conns = append(conns, cn)
		}
		cn.dirs = append(cn.dirs, sg.Dir)
		cn.data = append(cn.data, sg.Payload)
		size += len(sg.Payload)
		pkts++
	}
	var events int
	sink := protocols.SinkFunc(func(*event.Event) { events++ })
	ts := time.Unix(1700000000, 0)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for range b.N {
		for _, cn := range conns {
			p := factory(&cn.c, opts, sink)
			for j, d := range cn.data {
				p.Data(cn.dirs[j], d, ts)
			}
			p.Close(ts)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	n := float64(b.N) * float64(pkts)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/pkt")
	b.ReportMetric(n/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/pkt")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

// FirstBytes returns, per connection of segs in order of appearance, the first payload of
// each direction (at most n bytes; nil when the direction sent nothing): what detection by
// content sees.
func FirstBytes(segs []Segment, n int) [][2][]byte {
	idx := map[[2]netip.AddrPort]int{}
	var out [][2][]byte
	for _, s := range segs {
		k := [2]netip.AddrPort{s.Client, s.Server}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, [2][]byte{})
		}
		if len(s.Payload) > 0 && out[i][s.Dir] == nil {
			out[i][s.Dir] = s.Payload[:min(n, len(s.Payload))]
		}
	}
	return out
}
