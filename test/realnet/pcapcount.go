package realnet

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// PcapStats summarises a pcap file.
type PcapStats struct {
	Packets int
	Bytes   int64 // sum of the original lengths
	MaxLen  int   // longest original length; above the MTU means GSO/GRO super-packets
}

// ReadPcapStats reads the record headers of a classic pcap file (any byte order, micro- or
// nanosecond timestamps). A record cut short at the end, as while tcpdump is still writing, is
// not counted.
func ReadPcapStats(file string) (PcapStats, error) {
	var st PcapStats
	f, err := os.Open(file)
	if err != nil {
		return st, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return st, fmt.Errorf("pcap header: %w", err)
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(hdr[:4]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		return st, fmt.Errorf("%s is not a classic pcap file", file)
	}
	var rec [16]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return st, nil
			}
			return st, err
		}
		capLen, origLen := int(order.Uint32(rec[8:12])), int(order.Uint32(rec[12:16]))
		if n, err := r.Discard(capLen); n < capLen {
			if errors.Is(err, io.EOF) {
				return st, nil
			}
			return st, err
		}
		st.Packets++
		st.Bytes += int64(origLen)
		st.MaxLen = max(st.MaxLen, origLen)
	}
}
