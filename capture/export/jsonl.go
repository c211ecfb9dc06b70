// Package export ships events out of the sidecar. JSONLines writes one JSON document per line
// (the --output stdout mode); the Kafka exporter lives beside it.
package export

import (
	"io"
	"sync"
	"sync/atomic"

	"github.com/audit-io/wire-audit/capture/event"
)

// JSONLines writes events as JSON Lines. Emit may be called from several goroutines (one per
// capture interface). Output is buffered; Flush writes it out.
type JSONLines struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte // encoded events not yet written
	enc    event.Encoder
	err    error
	events atomic.Uint64
}

// writeAt is how much encoded output Emit gathers before it writes: the 64 KiB of the
// bufio.Writer this used before, so live output comes out as often as it did.
const writeAt = 64 << 10

// NewJSONLines writes to w.
func NewJSONLines(w io.Writer) *JSONLines {
	return &JSONLines{w: w, buf: make([]byte, 0, writeAt+8<<10)}
}

// Emit writes ev as event.AppendJSON encodes it (the bytes of encoding/json's Encoder with
// SetEscapeHTML(false), which this used before) and a newline, as the Kafka exporter's
// messages are. An event.Encoder writes them, which copies the text that repeats from the
// events before. Events are encoded straight into the output buffer, which is written once it
// holds writeAt bytes. The first write error is kept and returned by Flush; later events are
// counted but not written. ev is released (event.Release) once encoded: JSONLines is where its
// life ends.
func (j *JSONLines) Emit(ev *event.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.events.Add(1)
	if j.err != nil {
		event.Release(ev)
		return
	}
	j.buf = append(j.enc.AppendJSON(j.buf, ev), '\n')
	event.Release(ev)
	if len(j.buf) >= writeAt {
		j.writeLocked()
	}
}

// writeLocked writes the buffer out; a rare huge event's buffer is let go.
func (j *JSONLines) writeLocked() {
	_, j.err = j.w.Write(j.buf)
	j.buf = j.buf[:0]
	if cap(j.buf) > 1<<20 {
		j.buf = make([]byte, 0, writeAt+8<<10)
	}
}

// Flush writes buffered output and returns the first error met.
func (j *JSONLines) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil && len(j.buf) > 0 {
		j.writeLocked()
	}
	return j.err
}

// Events is the number of events emitted.
func (j *JSONLines) Events() uint64 { return j.events.Load() }
