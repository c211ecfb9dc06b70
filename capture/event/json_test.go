package event_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/pipeline"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/source"
)

// stdJSON is what --output stdout wrote before AppendJSON: encoding/json's Encoder without
// HTML escaping, without its newline.
func stdJSON(ev *event.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkSame fails t when AppendJSON and encoding/json disagree on ev.
func checkSame(t testing.TB, what string, ev *event.Event) {
	t.Helper()
	want, err := stdJSON(ev)
	if err != nil {
		t.Fatalf("%s: encoding/json: %v", what, err)
	}
	got := event.AppendJSON(nil, ev)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: AppendJSON differs from encoding/json at byte %d\n got: %s\nwant: %s", what, firstDiff(got, want), got, want)
	}
	// Appending keeps what dst held.
	prefix := []byte("prefix\n")
	if got := event.AppendJSON(prefix, ev); !bytes.Equal(got[len(prefix):], want) || string(got[:len(prefix)]) != "prefix\n" {
		t.Fatalf("%s: AppendJSON to a non-empty dst: %s", what, got)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// Values the filler cycles through: every escaping case of encoding/json, and addresses of
// each kind.
var (
	strs = []string{
		"plain", `q"uote\back/slash`, "<html> & 'amp'", "ctl\x00\x01\x08\x0c\n\r\t\x1f\x7f",
		"bad utf8 \xff\xfe \xc3 end", "sep \u2028 and \u2029", "ünïcødé 日本 😀", "\xed\xa0\x80 surrogate",
		"trunc \xe6\x97", "é",
	}
	addrs = []netip.Addr{
		netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:192.0.2.1"),
		netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::2%we\"ird\\zone\xff"), netip.MustParseAddr("::"),
	}
	times = []time.Time{
		time.Date(2026, 11, 28, 6, 13, 38, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.FixedZone("", 5*3600+30*60)),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("X", -8*3600)),
		time.Date(2024, 2, 29, 0, 0, 0, 1000, time.Local),
	}
)

// filler sets every exported field reachable from a value to a non-zero value, choosing
// among the values above by a counter so that different fields and runs get different
// values. A kind or type it does not know fails the test: a field added to Event with a new
// type must be taught here (and to AppendJSON).
type filler struct {
	t testing.TB
	n int
}

func (f *filler) next() int { f.n++; return f.n }

func (f *filler) fill(v reflect.Value, path string) {
	switch v.Type() {
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(times[f.next()%len(times)]))
		return
	case reflect.TypeFor[netip.Addr]():
		v.Set(reflect.ValueOf(addrs[f.next()%len(addrs)]))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(strs[f.next()%len(strs)])
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		vals := []int64{-1, 1, 42, -9223372036854775808, 9223372036854775807, 1 << 31}
		x := vals[f.next()%len(vals)]
		if v.OverflowInt(x) {
			x = -1
		}
		v.SetInt(x)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		vals := []uint64{1, 65535, 4294967295, 18446744073709551615, 7}
		x := vals[f.next()%len(vals)]
		if v.OverflowUint(x) {
			x = 65535
		}
		v.SetUint(x)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), path)
	case reflect.Struct:
		for i := range v.NumField() {
			if sf := v.Type().Field(i); sf.IsExported() {
				f.fill(v.Field(i), path+"."+sf.Name)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 3, 3)
		for i := range 3 {
			f.fill(s.Index(i), path+"[]")
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 3 + f.n%3 {
			k := reflect.New(v.Type().Key()).Elem()
			f.fill(k, path+"{key}")
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(e, path+"{}")
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		f.t.Fatalf("%s: the test does not know how to fill a %s; teach it and AppendJSON", path, v.Type())
	}
}

// leaves lists the paths (field indexes) to every non-struct field reachable from t through
// structs and pointers to structs; slices and maps are leaves.
func leaves(t reflect.Type, prefix []int, name string, out *[]leaf) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		idx := append(append([]int(nil), prefix...), i)
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() && ft != reflect.TypeFor[netip.Addr]() {
			leaves(ft, idx, name+"."+sf.Name, out)
			continue
		}
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
			// Also each field alone in one element of the slice (index -1 below).
			leaves(ft.Elem(), append(idx, -1), name+"."+sf.Name+"[0]", out)
		}
		*out = append(*out, leaf{idx, name + "." + sf.Name})
	}
}

type leaf struct {
	index []int
	name  string
}

// skeleton returns an event with every pointer to a struct allocated and everything else
// zero.
func skeleton(v reflect.Value) {
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		fv := v.Field(i)
		switch {
		case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct:
			fv.Set(reflect.New(fv.Type().Elem()))
			skeleton(fv.Elem())
		case fv.Kind() == reflect.Struct:
			skeleton(fv)
		}
	}
}

// field walks idx from v, through pointers; -1 is the first element of a slice, made when
// the slice is empty.
func field(v reflect.Value, idx []int) reflect.Value {
	for _, i := range idx {
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if i == -1 {
			if v.Len() == 0 {
				v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			}
			v = v.Index(0)
			continue
		}
		v = v.Field(i)
	}
	return v
}

// TestAppendJSONEveryField compares AppendJSON with encoding/json on events built by
// reflection: the zero event; every part present and zero (with empty maps and slices); every
// field set at once, in several rounds of values; and each field alone set on the zero
// skeleton, which checks each omitempty rule on its own.
func TestAppendJSONEveryField(t *testing.T) {
	checkSame(t, "nil event", nil)
	checkSame(t, "zero event", &event.Event{})

	var skel event.Event
	skeleton(reflect.ValueOf(&skel).Elem())
	checkSame(t, "zero skeleton", &skel)

	empty := skel
	h := *skel.HTTP
	h.Request.Headers = map[string]string{}
	h.Response = &event.HTTPResponse{Headers: map[string]string{}}
	empty.HTTP = &h
	empty.DNS = &event.DNS{Answers: []event.DNSAnswer{}, ResolvedIP: []netip.Addr{}}
	empty.Loss = &event.Loss{Events: map[string]uint64{}}
	empty.ExportTruncated = &event.Truncated{Dropped: []string{}}
	empty.Kubernetes = &event.Kubernetes{Labels: map[string]string{}}
	checkSame(t, "empty maps and slices", &empty)

	// event.start reuses the text of @timestamp only when both read the same.
	at := time.Date(2026, 11, 28, 6, 13, 38, 5000, time.UTC)
	for i, start := range []time.Time{at, at.In(time.FixedZone("", 3600)), at.Add(1), at.In(time.Local), at.Round(0), {}} {
		checkSame(t, fmt.Sprintf("start %d", i), &event.Event{Timestamp: at, Event: event.Meta{Start: start}})
		checkSame(t, fmt.Sprintf("start %d in a zone", i), &event.Event{Timestamp: at.In(time.FixedZone("", 3600)), Event: event.Meta{Start: start}})
	}

	f := &filler{t: t}
	for round := range 12 {
		var ev event.Event
		f.n = round
		f.fill(reflect.ValueOf(&ev).Elem(), "Event")
		checkSame(t, fmt.Sprintf("every field, round %d", round), &ev)
	}

	var ls []leaf
	leaves(reflect.TypeFor[event.Event](), nil, "Event", &ls)
	if len(ls) < 100 {
		t.Fatalf("only %d leaf fields found by reflection", len(ls))
	}
	for _, l := range ls {
		for round := range 3 {
			var ev event.Event
			skeleton(reflect.ValueOf(&ev).Elem())
			f.n = round
			f.fill(field(reflect.ValueOf(&ev).Elem(), l.index), l.name)
			checkSame(t, fmt.Sprintf("only %s, round %d", l.name, round), &ev)
		}
	}
}

// TestAppendJSONStrings covers every byte value and many runes in a string field.
func TestAppendJSONStrings(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, 'a', byte(c))
	}
	ev := &event.Event{Query: string(all), Method: string(all[1:])}
	checkSame(t, "every byte", ev)
	var runes strings.Builder
	for r := rune(0); r < 0x3000; r += 7 {
		runes.WriteRune(r)
	}
	runes.WriteString("\u2028\u2029\U0010FFFF\uFFFD")
	ev = &event.Event{Query: runes.String(), Error: &event.Error{Message: runes.String()[3:]}}
	checkSame(t, "runes", ev)
}

// TestAppendJSONBigMap sorts more keys than the sorting buffer holds.
func TestAppendJSONBigMap(t *testing.T) {
	labels := map[string]string{}
	events := map[string]uint64{}
	for i := range 100 {
		labels[fmt.Sprintf("k%03d\xff", 100-i)] = fmt.Sprint(i)
		events[fmt.Sprintf("t%d", i)] = uint64(i)
	}
	checkSame(t, "big maps", &event.Event{Kubernetes: &event.Kubernetes{Labels: labels}, Loss: &event.Loss{Events: events}})
}

// TestAppendJSONInvalidTimes documents the one difference: encoding/json refuses a time it
// cannot write as RFC 3339, AppendJSON writes it as time.RFC3339Nano does.
func TestAppendJSONInvalidTimes(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
	} {
		ev := &event.Event{Timestamp: ts}
		if _, err := stdJSON(ev); err == nil {
			t.Fatalf("%v: encoding/json no longer refuses it; compare instead", ts)
		}
		want := `{"@timestamp":"` + ts.Format(time.RFC3339Nano) + `",`
		if got := event.AppendJSON(nil, ev); !bytes.HasPrefix(got, []byte(want)) {
			t.Fatalf("%v: got %s", ts, got)
		}
	}
}

// replayOptions are parser settings that fill the optional fields: headers, bodies, cut
// statements.
var replayOptions = []protocols.Options{
	{},
	{MaxQueryLength: 40, MaskLiterals: true, HTTPHeaders: []string{"Host", "User-Agent", "Accept", "Content-Type", "Content-Length", "Authorization", "Server", "Date"}, HTTPBodyBytes: 64},
}

// replayPcap returns the events the real pipeline produces from the capture at path, with
// flows, each protocol on its default ports and detected by content elsewhere; with options
// other than the first, every event also carries the pod's identity and the mesh mark.
func replayPcap(tb testing.TB, path string, i int) []*event.Event {
	tb.Helper()
	kube := &event.Kubernetes{Namespace: "shop", Pod: event.Pod{Name: "orders-7d9f", UID: "5f0c1e7a-1111"},
		Node: event.Node{Name: "node-a"}, Labels: map[string]string{"app": "orders", "team": "pay<ments>", "z": "\u2028"}}
	var evs []*event.Event
	var protos []pipeline.Protocol
	for _, p := range config.Default().Protocols {
		ports := p.Ports
		if p.Name == config.DNS {
			ports = append(ports, 15353) // dns/testdata/capture.sh
		}
		if pr, ok := pipeline.Builtin(p.Name, ports); ok {
			protos = append(protos, pr)
		}
	}
	sink := protocols.SinkFunc(func(ev *event.Event) { evs = append(evs, ev) })
	opts := pipeline.Options{Protocols: protos, Parser: replayOptions[i], Sink: sink, Flows: true, DetectAll: true, Interface: "eth0"}
	if i > 0 {
		opts.Kubernetes, opts.Mesh = kube, true
	}
	p, err := pipeline.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	src, err := source.OpenFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	if err := pipeline.Run(context.Background(), src, p, nil); err != nil {
		tb.Fatal(err)
	}
	return evs
}

// TestAppendJSONReplay compares AppendJSON, and one Encoder fed every event in turn, with
// encoding/json on every event the real pipeline produces from every capture under
// capture/protocols/*/testdata, in both settings of replayOptions.
func TestAppendJSONReplay(t *testing.T) {
	pcaps, err := filepath.Glob("../protocols/*/testdata/*.pcap")
	if err != nil || len(pcaps) < 10 {
		t.Fatalf("captures: %v %v", pcaps, err)
	}
	types, parts := map[string]int{}, map[string]int{}
	total := 0
	var enc event.Encoder
	for _, path := range pcaps {
		for i := range replayOptions {
			evs := replayPcap(t, path, i)
			if len(evs) == 0 {
				t.Errorf("%s: no events", path)
			}
			for n, ev := range evs {
				types[ev.Type]++
				v := reflect.ValueOf(ev).Elem()
				for i := range v.NumField() {
					if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
						parts[v.Type().Field(i).Name]++
					}
				}
				checkSame(t, fmt.Sprintf("%s options %d event %d", path, i, n), ev)
				checkEncoder(t, fmt.Sprintf("%s options %d event %d", path, i, n), &enc, ev)
			}
			total += len(evs)
		}
	}
	t.Logf("%d events compared, by type %v, with parts %v", total, types, parts)
	for _, typ := range []string{event.TypeMySQL, event.TypePgSQL, event.TypeRedis, event.TypeHTTP, event.TypeDNS, event.TypeFlow} {
		if types[typ] == 0 {
			t.Errorf("no %s events replayed", typ)
		}
	}
	// Loss and ExportTruncated come from the exporter, not from captures.
	for _, part := range []string{"User", "DB", "TLS", "Error", "MySQL", "PgSQL", "Redis", "HTTP", "URL", "UserAgent", "Flow", "DNS", "Kubernetes"} {
		if parts[part] == 0 {
			t.Errorf("no event with %s replayed", part)
		}
	}
}
