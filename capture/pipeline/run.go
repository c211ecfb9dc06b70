package pipeline

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/audit-io/wire-audit/capture/decode"
)

// Reader is what Run reads frames from (capture/source.File and source.Live). ReadFrame's
// frame is valid until the next call; errTimeout is what it returns when a live source had
// nothing to read for a while.
type Reader interface {
	ReadFrame() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// drainFor bounds how long Run goes on reading a live source after cancellation.
const drainFor = time.Second

// Run reads every frame of r into p until r ends (io.EOF) or ctx is done, then closes every
// connection so that open transactions and final flow records are emitted. isTimeout tells
// a poll timeout of a live source, on which the timers run on wall time. Once ctx is done, a
// live source is drained first: the packets the kernel already holds in the ring are decoded
// until a poll comes back empty, or for drainFor at most on a link that never goes quiet, so
// that a SIGTERM does not lose the last transactions. Run returns nil at the end of a file or
// on cancellation, and the read error otherwise.
func Run(ctx context.Context, r Reader, p *Pipeline, isTimeout func(error) bool) error {
	d, err := decode.New(r.LinkType())
	if err != nil {
		return err
	}
	var pkt decode.Packet
	var last, drainUntil time.Time
	for {
		if ctx.Err() != nil {
			now := time.Now()
			if drainUntil.IsZero() && isTimeout != nil {
				drainUntil = now.Add(drainFor)
			}
			if !now.Before(drainUntil) {
				p.Close(now)
				return nil
			}
		}
		frame, ci, err := r.ReadFrame()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			p.Close(last)
			return nil
		case isTimeout != nil && isTimeout(err):
			if ctx.Err() != nil { // drained: the ring is empty
				p.Close(time.Now())
				return nil
			}
			p.Tick(time.Now())
			continue
		default:
			p.Close(last)
			return err
		}
		last = ci.Timestamp
		p.Frame(d, frame, ci.Timestamp, &pkt)
	}
}
