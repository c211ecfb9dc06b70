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

// Run reads every frame of r into p until r ends (io.EOF) or ctx is done, then closes every
// connection so that open transactions and final flow records are emitted. isTimeout tells
// a poll timeout of a live source, on which the timers run on wall time. Run returns nil at
// the end of a file or on cancellation, and the read error otherwise.
func Run(ctx context.Context, r Reader, p *Pipeline, isTimeout func(error) bool) error {
	d, err := decode.New(r.LinkType())
	if err != nil {
		return err
	}
	var pkt decode.Packet
	var last time.Time
	for {
		if ctx.Err() != nil {
			p.Close(time.Now())
			return nil
		}
		frame, ci, err := r.ReadFrame()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			p.Close(last)
			return nil
		case isTimeout != nil && isTimeout(err):
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
