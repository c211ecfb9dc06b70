package event_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
)

// recycledPart is an event's mysql.* that comes back for the next event once the event is
// released, as the parsers' parts do (event.Part).
type recycledPart struct {
	m    event.MySQL
	free *[]*recycledPart
}

func (p *recycledPart) Recycle() {
	p.m = event.MySQL{}
	*p.free = append(*p.free, p)
}

// TestEncoderRecycled encodes every pair of variants with one Encoder, as TestEncoderVariants
// does, but each event is released once encoded, so that the next one is built in the same
// Event and the same part: nothing the Encoder kept of an event may show in the text of the
// one recycled from it.
func TestEncoderRecycled(t *testing.T) {
	vs := encoderVariants()
	var free []*recycledPart
	parts := 0
	build := func(v variant, n int) *event.Event {
		lit := mysqlEvent()
		v.set(lit)
		ev := event.New()
		dst, src := reflect.ValueOf(ev).Elem(), reflect.ValueOf(lit).Elem()
		for i := range src.NumField() {
			if dst.Type().Field(i).IsExported() {
				dst.Field(i).Set(src.Field(i))
			}
		}
		var pt *recycledPart
		if k := len(free); k > 0 {
			pt, free = free[k-1], free[:k-1]
		} else {
			pt, parts = &recycledPart{free: &free}, parts+1
		}
		pt.m = event.MySQL{NumRows: uint64(n), NumFields: uint64(n % 7)}
		ev.MySQL = &pt.m
		if !ev.Own(pt) {
			t.Fatal("an event from New refused its part")
		}
		return ev
	}
	var enc event.Encoder
	n := 0
	for _, a := range vs {
		for _, b := range vs {
			for i, v := range []variant{a, b, vs[0]} {
				n++
				ev := build(v, n)
				checkEncoder(t, fmt.Sprintf("%s, then %s (%d)", a.name, b.name, i), &enc, ev)
				event.Release(ev)
			}
		}
	}
	if parts != 1 {
		t.Errorf("%d parts made for %d events, want 1 recycled throughout", parts, n)
	}
}
