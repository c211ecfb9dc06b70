// Package reassembly puts one direction of a TCP connection back in order, with bounded
// memory. It turns retransmissions and overlaps into nothing, out-of-order segments into a
// short wait, and bytes that never arrive into an explicit gap: it never invents data.
//
// A Half is owned by the pipeline goroutine of its connection; nothing here is safe for
// concurrent use.
package reassembly

import (
	"time"

	"github.com/audit-io/wire-audit/capture/protocols"
)

// Receiver gets the in-order bytes of a direction. It is called from Segment, Flush and
// Close, on the caller's goroutine. data is valid only during the call.
type Receiver interface {
	Data(dir protocols.Dir, data []byte, ts time.Time)
	Gap(dir protocols.Dir, n int, ts time.Time)
}

// Budget bounds the out-of-order bytes held by every Half that shares it (one pipeline).
// The zero value has no room: every out-of-order segment becomes a gap at once.
type Budget struct {
	Max  int
	used int
}

// Used is the number of bytes currently held.
func (b *Budget) Used() int { return b.used }

// Limits bound one Half.
type Limits struct {
	// MaxPendingBytes is the most out-of-order payload one direction holds while it waits
	// for a missing segment. Beyond it, the missing range becomes a gap.
	MaxPendingBytes int
	// MaxPendingSegments caps the number of held segments, so tiny segments cannot make the
	// list long.
	MaxPendingSegments int
}

// Stats counts what one direction saw.
type Stats struct {
	Packets         uint64 // segments, including empty ACKs
	Bytes           uint64 // payload bytes on the wire, retransmissions included
	Retransmissions uint64 // segments whose payload was (partly) seen already
	OutOfOrder      uint64 // segments that arrived ahead of a missing one
	Gaps            uint64 // ranges that never arrived
	GapBytes        uint64 // bytes in those ranges
}

type segment struct {
	seq  uint32
	data []byte
	ts   time.Time
}

// Half is one direction of a connection.
type Half struct {
	Stats
	started bool
	next    uint32 // sequence number of the next byte to deliver
	pending []segment
	held    int // bytes in pending
	// FIN is true once a FIN was seen in this direction.
	FIN bool
}

// Started reports whether any segment of this direction was seen.
func (h *Half) Started() bool { return h.started }

// Pending is the number of out-of-order bytes held.
func (h *Half) Pending() int { return h.held }

// Segment takes one TCP segment of direction dir: its sequence number, SYN and FIN flags
// and payload (which Segment copies only if it must hold it). In-order bytes go to r at once.
func (h *Half) Segment(dir protocols.Dir, seq uint32, syn, fin bool, payload []byte, ts time.Time,
	r Receiver, lim *Limits, b *Budget) {
	h.Packets++
	if syn {
		// The SYN takes one sequence number; data, if any, follows it.
		seq++
		if !h.started {
			h.started, h.next = true, seq
		}
	}
	if !h.started {
		// Capture began mid-stream: start at the first byte we see.
		h.started, h.next = true, seq
	}
	if fin {
		h.FIN = true
	}
	if len(payload) == 0 {
		return
	}
	h.Bytes += uint64(len(payload))
	off := int64(int32(seq - h.next))
	switch {
	case off+int64(len(payload)) <= 0:
		h.Retransmissions++
	case off <= 0:
		if off < 0 {
			h.Retransmissions++
			payload = payload[-off:]
		}
		h.next += uint32(len(payload))
		r.Data(dir, payload, ts)
		h.drain(dir, r, b)
	default:
		h.OutOfOrder++
		h.hold(seq, payload, ts, b)
		for h.held > lim.MaxPendingBytes || len(h.pending) > lim.MaxPendingSegments || b.used > b.Max {
			if !h.skip(dir, r, b) {
				break
			}
		}
	}
}

// Flush gives up on missing bytes that have been awaited since before deadline: each becomes
// a gap and the held bytes after it are delivered. The pipeline calls it on its timer.
func (h *Half) Flush(dir protocols.Dir, deadline time.Time, r Receiver, b *Budget) {
	for len(h.pending) > 0 && h.pending[0].ts.Before(deadline) {
		h.skip(dir, r, b)
	}
}

// Close delivers everything held, with gaps where bytes are missing. The connection ends.
func (h *Half) Close(dir protocols.Dir, r Receiver, b *Budget) {
	for h.skip(dir, r, b) {
	}
}

// Discard drops the held segments without delivering them, for a connection that is no longer
// decoded.
func (h *Half) Discard(b *Budget) {
	b.used -= h.held
	h.held = 0
	clear(h.pending)
	h.pending = h.pending[:0:0]
}

// hold inserts a copy of payload among the pending segments, ordered by sequence number.
func (h *Half) hold(seq uint32, payload []byte, ts time.Time, b *Budget) {
	data := make([]byte, len(payload))
	copy(data, payload)
	i := len(h.pending)
	for i > 0 && int32(h.pending[i-1].seq-seq) > 0 {
		i--
	}
	h.pending = append(h.pending, segment{})
	copy(h.pending[i+1:], h.pending[i:])
	h.pending[i] = segment{seq: seq, data: data, ts: ts}
	h.held += len(data)
	b.used += len(data)
}

// skip declares the bytes before the first held segment lost, and delivers what then fits.
// It reports false when nothing was held.
func (h *Half) skip(dir protocols.Dir, r Receiver, b *Budget) bool {
	if len(h.pending) == 0 {
		return false
	}
	first := h.pending[0]
	if gap := int32(first.seq - h.next); gap > 0 {
		h.Gaps++
		h.GapBytes += uint64(gap)
		r.Gap(dir, int(gap), first.ts)
		h.next = first.seq
	}
	h.drain(dir, r, b)
	return true
}

// drain delivers held segments that now continue the stream.
func (h *Half) drain(dir protocols.Dir, r Receiver, b *Budget) {
	for len(h.pending) > 0 {
		s := h.pending[0]
		off := int64(int32(s.seq - h.next))
		if off > 0 {
			return
		}
		h.pending[0] = segment{}
		h.pending = h.pending[1:]
		h.held -= len(s.data)
		b.used -= len(s.data)
		if off+int64(len(s.data)) <= 0 {
			h.Retransmissions++
			continue
		}
		data := s.data[-off:]
		h.next += uint32(len(data))
		r.Data(dir, data, s.ts)
	}
	if len(h.pending) == 0 {
		h.pending = h.pending[:0:0]
	}
}
