package capturebench

import (
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/audit-io/wire-audit/capture/source"
)

// WriteMixed writes to out the first perFile frames of each capture in paths, interleaved as if
// they had been captured at once: each file's times are shifted so that all start at the
// earliest first time, then frames are merged in time order (ties keep the order of paths).
// Every input must have the same link type. It returns the number of frames written.
func WriteMixed(out string, paths []string, perFile int) (int, error) {
	var files []*mixedInput
	defer func() {
		for _, f := range files {
			_ = f.src.Close()
		}
	}()
	var link layers.LinkType
	var base time.Time
	for i, p := range paths {
		src, err := source.OpenFile(p)
		if err != nil {
			return 0, err
		}
		in := &mixedInput{src: src, order: i, left: perFile}
		files = append(files, in)
		if i == 0 {
			link = src.LinkType()
		} else if src.LinkType() != link {
			return 0, fmt.Errorf("%s: link type %v, but %s has %v", p, src.LinkType(), paths[0], link)
		}
		if err := in.next(); err != nil {
			return 0, fmt.Errorf("%s: %w", p, err)
		}
		if in.done {
			return 0, fmt.Errorf("%s: no frames", p)
		}
		if first := in.ci.Timestamp; base.IsZero() || first.Before(base) {
			base = first
		}
	}
	h := make(mixedHeap, 0, len(files))
	for _, in := range files {
		in.shift = base.Sub(in.ci.Timestamp)
		in.ci.Timestamp = in.ci.Timestamp.Add(in.shift)
		h = append(h, in)
	}
	heap.Init(&h)

	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(262144, link); err != nil {
		return 0, err
	}
	n := 0
	for h.Len() > 0 {
		in := h[0]
		if err := w.WritePacket(in.ci, in.data); err != nil {
			return n, err
		}
		n++
		if err := in.next(); err != nil {
			return n, err
		}
		if in.done {
			heap.Pop(&h)
			continue
		}
		in.ci.Timestamp = in.ci.Timestamp.Add(in.shift)
		heap.Fix(&h, 0)
	}
	return n, f.Close()
}

// mixedInput is one capture being merged: its current frame (a copy) and time shift.
type mixedInput struct {
	src   *source.File
	order int
	left  int
	done  bool
	data  []byte
	ci    gopacket.CaptureInfo
	shift time.Duration
}

func (in *mixedInput) next() error {
	if in.left == 0 {
		in.done = true
		return nil
	}
	data, ci, err := in.src.ReadFrame()
	if errors.Is(err, io.EOF) {
		in.done = true
		return nil
	}
	if err != nil {
		return err
	}
	in.left--
	in.data = append(in.data[:0], data...)
	in.ci = ci
	return nil
}

type mixedHeap []*mixedInput

func (h mixedHeap) Len() int { return len(h) }
func (h mixedHeap) Less(i, j int) bool {
	a, b := h[i].ci.Timestamp, h[j].ci.Timestamp
	if a.Equal(b) {
		return h[i].order < h[j].order
	}
	return a.Before(b)
}
func (h mixedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mixedHeap) Push(x any)   { *h = append(*h, x.(*mixedInput)) }
func (h *mixedHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
