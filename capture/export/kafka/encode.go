package kafka

import (
	"bytes"
	"sync"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/sqlnorm"
)

const (
	// minMessageBytes leaves room for the smallest truncated form of any event.
	minMessageBytes = 1024
	// recordOverhead is what a record adds to key and value inside a batch (headers, varints).
	recordOverhead = 512
)

// scratch is a buffer to encode an event into and the event.Encoder that writes it, whose text
// of the events before makes the next ones cheaper. The pool keeps one per P, so an exporter
// fed by one goroutine mostly gets the same one back.
type scratch struct {
	buf []byte
	enc event.Encoder
}

var scratches = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 4096)} }}

// encode returns ev as one JSON document without the trailing newline, in a new slice the
// caller owns: the same bytes as --output stdout writes (event.AppendJSON, which writes what
// encoding/json writes with SetEscapeHTML(false), at a fraction of its CPU).
func encode(ev *event.Event) []byte {
	s := scratches.Get().(*scratch)
	defer scratches.Put(s)
	return bytes.Clone(s.message(ev))
}

// message encodes ev as encode does into s's buffer, and returns it: it is valid until s is
// used again.
func (s *scratch) message(ev *event.Event) []byte {
	b := s.enc.AppendJSON(s.buf[:0], ev)
	if cap(b) <= 1<<20 { // keep ordinary buffers, let a rare huge one go
		s.buf = b
	}
	return b
}

// truncate cuts ev down to at most limit bytes of JSON: first the query text, then the bulky
// optional parts, and at last everything but the identity of the event. The result always
// carries export_truncated, so a consumer sees that it is not the whole event.
func truncate(ev *event.Event, original, limit int) []byte {
	c := *ev
	c.ExportTruncated = &event.Truncated{OriginalBytes: original}
	if c.Query != "" {
		c.QueryTruncated = true
		c.ExportTruncated.Dropped = []string{"query (cut)"}
		// JSON escaping can grow the text, so halve the budget until it fits.
		budget := limit - (original - len(ev.Query)) - 256
		for i := 0; i < 8 && budget > 0; i++ {
			c.Query = sqlnorm.Truncate(ev.Query, budget)
			if b := encode(&c); len(b) <= limit {
				return b
			}
			budget /= 2
		}
	}
	c.Query = ""
	c.Error, c.MySQL, c.PgSQL, c.Flow, c.Loss = nil, nil, nil, nil, nil
	c.ExportTruncated.Dropped = []string{"query", "error", "mysql", "pgsql", "flow", "loss"}
	if ev.Kubernetes != nil && len(ev.Kubernetes.Labels) > 0 {
		k := *ev.Kubernetes
		k.Labels = nil
		c.Kubernetes = &k
		c.ExportTruncated.Dropped = append(c.ExportTruncated.Dropped, "kubernetes.labels")
	}
	if b := encode(&c); len(b) <= limit {
		return b
	}
	// Only oversized identity fields are left (labels are gone): keep what names the event.
	min := event.Event{
		Timestamp: ev.Timestamp, Type: ev.Type, Status: ev.Status, Method: ev.Method, Event: ev.Event,
		Network:         event.Network{CommunityID: ev.Network.CommunityID, Transport: ev.Network.Transport, Type: ev.Network.Type},
		ExportTruncated: &event.Truncated{OriginalBytes: original, Dropped: []string{"all but type, time, status and community_id"}},
	}
	if len(min.Type) > 64 {
		min.Type = min.Type[:64]
	}
	if len(min.Method) > 64 {
		min.Method = min.Method[:64]
	}
	return encode(&min)
}
