// Package stable checks, in the parsers' tests, that an event stays as it was emitted while
// its parser goes on: a parser that shares memory between events (interned strings, values
// from a slab, parts allocated with a request) must never write to what an event it emitted
// points to (protocols.Sink), nor to a part it gave an event (event.Part) once the event is
// released: Releasing checks that.
package stable

import (
	"encoding/json"
	"testing"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// Sink records each event's JSON when it is emitted, then passes the event on to Next.
type Sink struct {
	Next   protocols.Sink
	events []*event.Event
	at     [][]byte
}

// Emit implements protocols.Sink.
func (s *Sink) Emit(ev *event.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	s.events, s.at = append(s.events, ev), append(s.at, b)
	if s.Next != nil {
		s.Next.Emit(ev)
	}
}

// Factory wraps a parser factory so that its events go through s first.
func (s *Sink) Factory(f protocols.Factory) protocols.Factory {
	return func(c *protocols.Conn, opts *protocols.Options, sink protocols.Sink) protocols.StreamParser {
		s.Next = sink
		return f(c, opts, s)
	}
}

// Check fails t for every event that no longer encodes as it did when emitted, and when
// there were none (a check of nothing would pass).
func (s *Sink) Check(t testing.TB) {
	t.Helper()
	if len(s.events) == 0 {
		t.Fatal("no events to check")
	}
	for i, ev := range s.events {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(s.at[i]) {
			t.Errorf("event %d changed after it was emitted:\nthen %s\nnow  %s", i, s.at[i], b)
		}
	}
}

// Releasing is a Sink that ends each event's life as an exporter does: it encodes the event
// with an event.Encoder, then releases it (event.Release), so that the event and the parts it
// owns (event.Part) are handed out again to the events that follow. A parser that kept using
// a part after emitting its event would show in a later event's text.
type Releasing struct {
	enc   event.Encoder
	lines [][]byte
}

// Emit implements protocols.Sink.
func (r *Releasing) Emit(ev *event.Event) {
	r.lines = append(r.lines, r.enc.AppendJSON(nil, ev))
	event.Release(ev)
}

// Factory wraps a parser factory so that its events go to r, and no further.
func (r *Releasing) Factory(f protocols.Factory) protocols.Factory {
	return func(c *protocols.Conn, opts *protocols.Options, _ protocols.Sink) protocols.StreamParser {
		return f(c, opts, r)
	}
}

// Check fails t unless r encoded, one by one, what the events s kept encode to now: the same
// input replayed with recycling and without gives the same text.
func (r *Releasing) Check(t testing.TB, s *Sink) {
	t.Helper()
	if len(r.lines) != len(s.events) {
		t.Fatalf("%d events released, %d kept", len(r.lines), len(s.events))
	}
	for i, ev := range s.events {
		if want := event.AppendJSON(nil, ev); string(r.lines[i]) != string(want) {
			t.Errorf("event %d differs when events are recycled:\nkept     %s\nrecycled %s", i, want, r.lines[i])
		}
	}
}

// CheckParser runs replay twice, through parser factory f: once keeping every event (Sink),
// once releasing each after encoding it (Releasing), and checks both runs. replay feeds the
// same input to the factory it is given each time.
func CheckParser(t testing.TB, f protocols.Factory, replay func(protocols.Factory)) {
	t.Helper()
	var s Sink
	replay(s.Factory(f))
	s.Check(t)
	var r Releasing
	replay(r.Factory(f))
	r.Check(t, &s)
}
