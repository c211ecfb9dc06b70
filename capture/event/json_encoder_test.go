package event_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
)

// checkEncoder fails t when enc's text for ev differs from encoding/json's (or, for a time
// encoding/json refuses, from AppendJSON's).
func checkEncoder(t testing.TB, what string, enc *event.Encoder, ev *event.Event) {
	t.Helper()
	want, err := stdJSON(ev)
	if err != nil {
		want = event.AppendJSON(nil, ev)
	}
	prefix := []byte("prefix\n")
	got := enc.AppendJSON(prefix, ev)
	if !bytes.Equal(got[len(prefix):], want) || string(got[:len(prefix)]) != "prefix\n" {
		got = got[len(prefix):]
		t.Fatalf("%s: Encoder differs from encoding/json at byte %d\n got: %s\nwant: %s", what, firstDiff(got, want), got, want)
	}
}

// variant is a change to one field of what an Encoder keeps the text of.
type variant struct {
	name string
	set  func(*event.Event)
}

// encoderVariants change, each, one field of the parts an Encoder copies from earlier events:
// a time's second, location and offset, an endpoint's address or port, a network field, the
// pod's identity. Some keep the text the same with other values (an equal string elsewhere in
// memory, an equal pod behind another pointer), which the encoder may copy or not.
func encoderVariants() []variant {
	kube := &event.Kubernetes{Namespace: "shop", Pod: event.Pod{Name: "orders-7d9f-x2x"}, Labels: map[string]string{"app": "orders"}}
	kubeSame := *kube
	kubeOther := *kube
	kubeOther.Pod.Name = "orders-7d9f-y3y"
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	// 2026-11-01 01:59:59 EDT, then a second later 01:00:00 EST: the same location with
	// another offset.
	dst := time.Date(2026, 11, 1, 5, 59, 59, 500000000, time.UTC)
	at := func(ts time.Time) func(*event.Event) {
		return func(ev *event.Event) { ev.Timestamp, ev.Event.Start, ev.Event.End = ts, ts, ts.Add(1500) }
	}
	return []variant{
		{"base", func(*event.Event) {}},
		{"source ip", func(ev *event.Event) { ev.Source.IP = netip.MustParseAddr("10.0.0.3") }},
		{"source ip v6", func(ev *event.Event) { ev.Source.IP = netip.MustParseAddr("::ffff:10.0.0.1") }},
		{"source ip zone", func(ev *event.Event) { ev.Source.IP = netip.MustParseAddr("fe80::1%eth\"0") }},
		{"source ip other zone", func(ev *event.Event) { ev.Source.IP = netip.MustParseAddr("fe80::1%eth1") }},
		{"source port", func(ev *event.Event) { ev.Source.Port++ }},
		{"source bytes", func(ev *event.Event) { ev.Source.Bytes++ }},
		{"source packets", func(ev *event.Event) { ev.Source.Packets = 3 }},
		{"source zero", func(ev *event.Event) { ev.Source = event.Endpoint{} }},
		{"source zero address", func(ev *event.Event) { ev.Source.IP, ev.Source.Port = netip.Addr{}, 0 }},
		{"destination ip", func(ev *event.Event) { ev.Destination.IP = netip.MustParseAddr("10.0.0.4") }},
		{"destination port", func(ev *event.Event) { ev.Destination.Port = 3307 }},
		{"destination bytes", func(ev *event.Event) { ev.Destination.Bytes++ }},
		{"destination packets", func(ev *event.Event) { ev.Destination.Packets = 2 }},
		{"client other", func(ev *event.Event) { ev.Client.Port = 1 }},
		{"client bytes", func(ev *event.Event) { ev.Client.Bytes++ }},
		{"client packets", func(ev *event.Event) { ev.Client.Packets = 5 }},
		{"server bytes", func(ev *event.Event) { ev.Server.Bytes++ }},
		{"client is server", func(ev *event.Event) { ev.Client, ev.Server = ev.Destination, ev.Source }},
		{"server other", func(ev *event.Event) { ev.Server.IP = netip.MustParseAddr("10.9.9.9") }},
		{"network type", func(ev *event.Event) { ev.Network.Type = "ipv6" }},
		{"network transport", func(ev *event.Event) { ev.Network.Transport = "udp" }},
		{"network protocol", func(ev *event.Event) { ev.Network.Protocol = "" }},
		{"community id", func(ev *event.Event) { ev.Network.CommunityID = "1:LQU9qZlK+B5F3KDmev6m5PMibrX=" }},
		{"community id copy", func(ev *event.Event) { ev.Network.CommunityID = string([]byte(ev.Network.CommunityID)) }},
		{"interface", func(ev *event.Event) { ev.Network.Interface = "lo" }},
		{"interface escaped", func(ev *event.Event) { ev.Network.Interface = "e\u2028\xff" }},
		{"network bytes", func(ev *event.Event) { ev.Network.Bytes = 77 }},
		{"mesh", func(ev *event.Event) { ev.Network.Mesh = true }},
		{"network zero", func(ev *event.Event) { ev.Network = event.Network{} }},
		{"type", func(ev *event.Event) { ev.Type = event.TypeFlow }},
		{"type copy", func(ev *event.Event) { ev.Type = string([]byte(ev.Type)) }},
		{"status", func(ev *event.Event) { ev.Status = event.StatusError }},
		{"no status", func(ev *event.Event) { ev.Status = "" }},
		{"method", func(ev *event.Event) { ev.Method = "UPDATE" }},
		{"method copy", func(ev *event.Event) { ev.Method = string([]byte(ev.Method)) }},
		{"query", func(ev *event.Event) { ev.Query = "SELECT 1" }},
		{"query same length", func(ev *event.Event) { ev.Query = strings.Replace(ev.Query, "100", "200", 1) }},
		{"query copy", func(ev *event.Event) { ev.Query = string([]byte(ev.Query)) }},
		{"query escaped", func(ev *event.Event) { ev.Query = "SELECT \"\u2028\xff" }},
		{"query long", func(ev *event.Event) { ev.Query = strings.Repeat("SELECT 1; ", 120) }},
		{"query truncated", func(ev *event.Event) { ev.QueryTruncated = true }},
		{"fingerprint", func(ev *event.Event) { ev.QueryFingerprint = "0000000000000000" }},
		{"no fingerprint", func(ev *event.Event) { ev.QueryFingerprint = "" }},
		{"kind", func(ev *event.Event) { ev.Event.Kind = "metric" }},
		{"category", func(ev *event.Event) { ev.Event.Category = "" }},
		{"dataset", func(ev *event.Event) { ev.Event.Dataset = "flow" }},
		{"next second", at(time.Date(2026, 11, 28, 6, 13, 39, 123456789, time.UTC))},
		{"same second", at(time.Date(2026, 11, 28, 6, 13, 38, 1000, time.UTC))},
		{"next day", at(time.Date(2026, 11, 29, 6, 13, 38, 0, time.UTC))},
		{"same instant in a zone", at(time.Date(2026, 11, 28, 6, 13, 38, 123456789, time.UTC).In(time.FixedZone("", 3600)))},
		{"same offset, another zone", at(time.Date(2026, 11, 28, 6, 13, 38, 123456789, time.UTC).In(time.FixedZone("B", 3600)))},
		{"local", at(time.Date(2026, 11, 28, 6, 13, 38, 123456789, time.UTC).Local())},
		{"before a zone change", at(dst.In(ny))},
		{"after a zone change", at(dst.Add(time.Second).In(ny))},
		{"year 10000", at(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))},
		{"end in another second", func(ev *event.Event) { ev.Event.End = ev.Timestamp.Add(time.Second) }},
		{"end in another zone", func(ev *event.Event) { ev.Event.End = ev.Timestamp.In(time.FixedZone("", -7200)) }},
		{"start apart", func(ev *event.Event) { ev.Event.Start = ev.Timestamp.Add(-time.Hour) }},
		{"no pod", func(ev *event.Event) { ev.Kubernetes = nil }},
		{"equal pod", func(ev *event.Event) { ev.Kubernetes = &kubeSame }},
		{"other pod", func(ev *event.Event) { ev.Kubernetes = &kubeOther }},
	}
}

// TestEncoderVariants encodes, with one Encoder, every pair of variants one after the other
// (and the base event between), so that any text kept from the first and wrongly copied into
// the second shows.
func TestEncoderVariants(t *testing.T) {
	vs := encoderVariants()
	build := func(v variant) *event.Event {
		ev := mysqlEvent()
		v.set(ev)
		return ev
	}
	var enc event.Encoder
	for _, a := range vs {
		for _, b := range vs {
			checkEncoder(t, a.name, &enc, build(a))
			checkEncoder(t, a.name+", then "+b.name, &enc, build(b))
			checkEncoder(t, a.name+", then "+b.name+", then base", &enc, build(vs[0]))
		}
	}
}

// TestEncoderManyConnections takes turns among more connections than the encoder keeps, in
// several orders, so that slots are taken over while others are still found.
func TestEncoderManyConnections(t *testing.T) {
	var enc event.Encoder
	for _, n := range []int{1, 2, 15, 16, 17, 40} {
		for round := range 3 {
			for i := range n {
				ev := mysqlEvent()
				c := (i*7 + round) % n
				ev.Source.Port = uint16(40000 + c)
				ev.Client.Port = ev.Source.Port
				ev.Network.CommunityID = fmt.Sprintf("1:conn-%d", c)
				if c%3 == 0 {
					ev.Destination.IP = netip.MustParseAddr(fmt.Sprintf("10.0.1.%d", c))
					ev.Server.IP = ev.Destination.IP
				}
				checkEncoder(t, fmt.Sprintf("%d connections, round %d, connection %d", n, round, c), &enc, ev)
			}
		}
	}
}

// TestEncoderAllocs holds an Encoder to no allocation per event once it has seen the
// connections and the pod.
func TestEncoderAllocs(t *testing.T) {
	evs := []*event.Event{mysqlEvent()}
	for _, pcap := range []string{"http/testdata/curl.pcap", "dns/testdata/udp.pcap", "redis/testdata/resp3.pcap"} {
		evs = append(evs, replayPcap(t, "../protocols/"+pcap, 1)...)
	}
	var enc event.Encoder
	buf := make([]byte, 0, 64<<10)
	for _, ev := range evs {
		buf = enc.AppendJSON(buf[:0], ev)
	}
	for _, ev := range evs {
		if n := testing.AllocsPerRun(100, func() { buf = enc.AppendJSON(buf[:0], ev) }); n != 0 {
			t.Fatalf("%s event: %v allocations, want 0", ev.Type, n)
		}
	}
}

// FuzzEncoder feeds one Encoder a sequence of events, each the last one with one field (or the
// type and event kind together) of the parts it keeps text of changed to a value the fuzzer
// picks, and compares every event with encoding/json.
func FuzzEncoder(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25})
	f.Add([]byte{40, 41, 0, 40, 81, 121, 3, 3, 3, 200, 201, 202, 250, 251})
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fe80::1%eth0"),
		netip.MustParseAddr("fe80::1%eth1"), netip.MustParseAddr("::ffff:10.0.0.1"), {}}
	strs := []string{"", "tcp", "udp", "ipv4", "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:LQU9qZlK+B5F3KDmev6m5PMibrX=", "eth0", "a\"b\u2028\xff"}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600)
	}
	base := time.Date(2026, 11, 1, 5, 59, 58, 0, time.UTC)
	locs := []*time.Location{time.UTC, ny, time.FixedZone("", 3600), time.FixedZone("B", 3600), time.Local}
	pods := []*event.Kubernetes{nil, {Namespace: "a"}, {Namespace: "a"}, {Namespace: "b", Labels: map[string]string{"x": "y"}}}
	f.Fuzz(func(t *testing.T, ops []byte) {
		var enc event.Encoder
		ev := mysqlEvent()
		for i, op := range ops {
			v := int(op) / 16
			switch op % 16 {
			case 0:
				ev.Source.IP = addrs[v%len(addrs)]
			case 1:
				ev.Source.Port = uint16(v % 3)
			case 2:
				ev.Destination.IP = addrs[v%len(addrs)]
			case 3:
				ev.Destination.Port = uint16(v % 3)
			case 4:
				ev.Client = ev.Source
				if v%2 == 1 {
					ev.Client.Port++
				}
				if v%4 >= 2 {
					ev.Client.Bytes++
				}
			case 5:
				ev.Server = ev.Destination
				if v%2 == 1 {
					ev.Server.IP = addrs[v%len(addrs)]
				}
				if v%4 >= 2 {
					ev.Server.Packets++
				}
			case 6, 7, 8, 9, 10:
				n := &ev.Network
				*[]*string{&n.Type, &n.Transport, &n.Protocol, &n.CommunityID, &n.Interface}[op%16-6] = strs[v%len(strs)]
			case 11:
				ev.Network.Bytes, ev.Network.Mesh, ev.Source.Bytes = uint64(v), v%2 == 1, uint64(v)
				ev.Destination.Bytes, ev.Destination.Packets = uint64(v/2), uint64(v%3)
			case 12:
				ev.Timestamp = base.Add(time.Duration(v%4) * 700 * time.Millisecond).In(locs[v%len(locs)])
				ev.Event.Start = ev.Timestamp
			case 13:
				ev.Event.End = ev.Timestamp.Add(time.Duration(v) * 100 * time.Millisecond).In(locs[v/4%len(locs)])
			case 14:
				ev.Kubernetes = pods[v%len(pods)]
			case 15:
				if v < 8 {
					ev.Event.Kind, ev.Event.Category, ev.Event.Dataset = strs[v%len(strs)], strs[(v+1)%len(strs)], strs[(v+2)%len(strs)]
					ev.Type = strs[v/2%len(strs)]
					break
				}
				// The statement's fields, with a string picked by the event's place.
				s := strs[(i+v)%len(strs)]
				switch v % 4 {
				case 0:
					ev.Status = s
				case 1:
					ev.Method = s
				case 2:
					ev.Query = string([]byte(s))
				case 3:
					ev.QueryTruncated, ev.QueryFingerprint = !ev.QueryTruncated, s
				}
			}
			checkEncoder(t, fmt.Sprintf("event %d", i), &enc, ev)
		}
	})
}
