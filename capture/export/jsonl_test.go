package export

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
)

// TestJSONLines: what is written is each event's AppendJSON and a newline, in order, across
// the writes of a full buffer and the final Flush; a write error is kept and returned.
func TestJSONLines(t *testing.T) {
	var want bytes.Buffer
	var out bytes.Buffer
	j := NewJSONLines(&out)
	for i := range 500 { // about 100 KiB: one write when the buffer fills, one at Flush
		ev := event.New()
		ev.Timestamp, ev.Type, ev.Query = time.Unix(1700000000, int64(i)).UTC(), event.TypeRedis, fmt.Sprintf("GET key:%d %0150d", i, i)
		want.Write(append(event.AppendJSON(nil, ev), '\n'))
		j.Emit(ev)
	}
	if out.Len() == 0 || out.Len() >= want.Len() {
		t.Errorf("%d of %d bytes written before Flush, want some but not all", out.Len(), want.Len())
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) || j.Events() != 500 {
		t.Errorf("%d events, output differs from AppendJSON's lines", j.Events())
	}

	boom := errors.New("boom")
	j = NewJSONLines(failWriter{boom})
	j.Emit(&event.Event{Type: event.TypeDNS})
	if err := j.Flush(); !errors.Is(err, boom) {
		t.Errorf("Flush: %v, want %v", err, boom)
	}
	j.Emit(&event.Event{Type: event.TypeDNS})
	if err := j.Flush(); !errors.Is(err, boom) || j.Events() != 2 {
		t.Errorf("after an error: %v, %d events", err, j.Events())
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
