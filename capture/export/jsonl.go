// Package export ships events out of the sidecar. JSONLines writes one JSON document per line
// (the --output stdout mode); the Kafka exporter lives beside it.
package export

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"

	"github.com/audit-io/wire-audit/capture/event"
)

// JSONLines writes events as JSON Lines. Emit may be called from several goroutines (one per
// capture interface). Output is buffered; Flush writes it out.
type JSONLines struct {
	mu     sync.Mutex
	w      *bufio.Writer
	buf    []byte // one encoded event
	err    error
	events atomic.Uint64
}

// NewJSONLines writes to w.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 4096)}
}

// Emit writes ev as event.AppendJSON encodes it (the bytes of encoding/json's Encoder with
// SetEscapeHTML(false), which this used before) and a newline, as the Kafka exporter's
// messages are. The first write error is kept and returned by Flush; later events are counted
// but not written. ev is released (event.Release) once encoded: JSONLines is where its life
// ends.
func (j *JSONLines) Emit(ev *event.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events.Add(1)
	if j.err != nil {
		event.Release(ev)
		return
	}
	b := append(event.AppendJSON(j.buf[:0], ev), '\n')
	event.Release(ev)
	_, j.err = j.w.Write(b)
	if cap(b) <= 1<<20 { // keep ordinary buffers, let a rare huge one go
		j.buf = b
	}
}

// Flush writes buffered output and returns the first error met.
func (j *JSONLines) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = j.w.Flush()
	}
	return j.err
}

// Events is the number of events emitted.
func (j *JSONLines) Events() uint64 { return j.events.Load() }
