// Package source reads frames: from a capture file (pcap or pcapng) for replay, or live from
// an interface through an AF_PACKET TPACKET_V3 ring with a kernel BPF filter.
package source

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Source yields frames. ReadFrame is called from one goroutine; the frame it returns is valid
// only until the next call (zero copy). It returns io.EOF at the end of a file and
// ErrTimeout when a live source had nothing within its poll timeout.
type Source interface {
	ReadFrame() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
	Close() error
}

// ErrTimeout is returned by a live source that saw no packet within its poll timeout, so the
// caller can run its timers.
var ErrTimeout = errors.New("no packet within the poll timeout")

type zeroCopyReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// File replays a pcap or pcapng file.
type File struct {
	f *os.File
	r zeroCopyReader
}

// OpenFile opens path, which may be pcap (any timestamp resolution) or pcapng.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: not a capture file: %w", path, err)
	}
	var r zeroCopyReader
	if magic[0] == 0x0a && magic[1] == 0x0d && magic[2] == 0x0d && magic[3] == 0x0a {
		r, err = pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	} else {
		r, err = pcapgo.NewReader(br)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &File{f: f, r: r}, nil
}

// ReadFrame returns the next frame, or io.EOF.
func (s *File) ReadFrame() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := s.r.ZeroCopyReadPacketData()
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// A file cut short while a packet was being written ends where the last whole packet
		// ends, as tcpdump's and tshark's readers do.
		err = io.EOF
	}
	return data, ci, err
}

// LinkType is the file's link type.
func (s *File) LinkType() layers.LinkType { return s.r.LinkType() }

// Interfaces names the file's interfaces by the index that ReadFrame's CaptureInfo carries
// (InterfaceIndex): the if_name of each pcapng Interface Description Block, "" where a block
// has none. A classic pcap has no interface names: it is one interface, named "".
func (s *File) Interfaces() []string {
	ng, ok := s.r.(*pcapgo.NgReader)
	if !ok {
		return []string{""}
	}
	names := make([]string, ng.NInterfaces())
	for i := range names {
		if intf, err := ng.Interface(i); err == nil {
			names[i] = intf.Name
		}
	}
	return names
}

// Close closes the file.
func (s *File) Close() error { return s.f.Close() }
