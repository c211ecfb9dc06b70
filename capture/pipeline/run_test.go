package pipeline

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/audit-io/wire-audit/capture/protocols/protocoltest"
)

var errPollTimeout = errors.New("poll timeout")

// ringReader plays a live source: it hands out frames, then poll timeouts (or, with endless,
// the last frame again and again, a link that never goes quiet), and cancels ctx while it
// reads frame cancelAfter, as a SIGTERM arriving mid-capture would.
type ringReader struct {
	frames      [][]byte
	next        int
	cancelAfter int
	cancel      context.CancelFunc
	endless     bool
}

func (r *ringReader) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

func (r *ringReader) ReadFrame() ([]byte, gopacket.CaptureInfo, error) {
	if r.next == r.cancelAfter {
		r.cancel()
	}
	if r.next >= len(r.frames) {
		if !r.endless {
			return nil, gopacket.CaptureInfo{}, errPollTimeout
		}
		r.next = len(r.frames) - 1
	}
	f := r.frames[r.next]
	r.next++
	return f, gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(r.next) * time.Millisecond)}, nil
}

func TestRunDrainsAfterCancel(t *testing.T) {
	conv := []pkt{
		{src: "10.0.0.1:40000", dst: "10.0.0.2:3306", seq: 100, flags: "S"},
		{src: "10.0.0.2:3306", dst: "10.0.0.1:40000", seq: 500, flags: "SA"},
		{src: "10.0.0.1:40000", dst: "10.0.0.2:3306", seq: 101, flags: "A", data: "before"},
		{src: "10.0.0.1:40000", dst: "10.0.0.2:3306", seq: 107, flags: "A", data: "-still-in-the-ring"},
		{src: "10.0.0.2:3306", dst: "10.0.0.1:40000", seq: 501, flags: "A", data: "answer"},
	}
	var frames [][]byte
	for _, c := range conv {
		frames = append(frames, serialize(t, c))
	}
	isTimeout := func(err error) bool { return errors.Is(err, errPollTimeout) }
	for _, tc := range []struct {
		name    string
		endless bool
		live    bool
		want    string
	}{
		{name: "live: the ring is drained", live: true, want: ":before-still-in-the-ring|answer"},
		{name: "live: a busy link stops after drainFor", live: true, endless: true},
		{name: "file: stops at once", want: ":before|"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink protocoltest.Collector
			p, err := New(Options{Sink: &sink, Protocols: []Protocol{{Name: "echo", Ports: []uint16{3306}, Factory: newEcho}}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &ringReader{frames: frames, cancelAfter: 2, cancel: cancel, endless: tc.endless}
			timeout := isTimeout
			if !tc.live {
				timeout = nil
			}
			start := time.Now()
			if err := Run(ctx, r, p, timeout); err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			if took := time.Since(start); took > drainFor+2*time.Second {
				t.Fatalf("Run took %v after cancellation, want at most about %v", took, drainFor)
			}
			got := queries(sink.Events, "echo")
			if tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Fatalf("events %q, want one with %q", got, tc.want)
			}
			if len(got) != 1 {
				t.Fatalf("%d events, want the connection closed once", len(got))
			}
		})
	}
}
