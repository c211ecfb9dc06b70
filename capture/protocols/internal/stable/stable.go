// Package stable checks, in the parsers' tests, that an event stays as it was emitted while
// its parser goes on: a parser that shares memory between events (interned strings, values
// from a slab, parts allocated with a request) must never write to what an event it emitted
// points to (protocols.Sink).
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
