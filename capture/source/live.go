package source

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/afpacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

// LiveOptions configure an AF_PACKET ring. Zero values take the defaults.
type LiveOptions struct {
	Interface string // required
	// BlockSize and NumBlocks size the TPACKET_V3 ring (default 1 MiB x 16 = 16 MiB): at
	// 200k packets per second it absorbs about half a second of stall.
	BlockSize, NumBlocks int
	// PollTimeout bounds how long ReadFrame waits before returning ErrTimeout (default 200ms).
	PollTimeout time.Duration
	// Filter is compiled to a kernel BPF program; nil passes everything.
	Filter []bpf.RawInstruction
}

// Live captures from an interface through an AF_PACKET TPACKET_V3 ring. It needs CAP_NET_RAW
// in the capturing process, and nothing more.
type Live struct {
	tp    *afpacket.TPacket
	iface string
}

// KernelStats are the socket's PACKET_STATISTICS: packets the kernel passed the filter, and
// packets it dropped because the ring was full.
type KernelStats struct {
	Packets, Drops, QueueFreezes uint64
}

// OpenLive opens the ring on opts.Interface.
func OpenLive(opts LiveOptions) (*Live, error) {
	if opts.Interface == "" {
		return nil, errors.New("live capture: an interface is required")
	}
	if opts.BlockSize <= 0 {
		opts.BlockSize = 1 << 20
	}
	if opts.NumBlocks <= 0 {
		opts.NumBlocks = 16
	}
	if opts.PollTimeout <= 0 {
		opts.PollTimeout = 200 * time.Millisecond
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(opts.Interface),
		afpacket.TPacketVersion3,
		// In a V3 ring packets are packed into blocks; the frame size only has to hold the
		// largest packet, a 64 KiB GSO super-packet from a veth.
		afpacket.OptFrameSize(1<<17),
		afpacket.OptBlockSize(opts.BlockSize),
		afpacket.OptNumBlocks(opts.NumBlocks),
		afpacket.OptBlockTimeout(10*time.Millisecond),
		afpacket.OptPollTimeout(opts.PollTimeout),
	)
	if err != nil {
		return nil, fmt.Errorf("live capture on %q: %w", opts.Interface, err)
	}
	if opts.Filter != nil {
		if err := tp.SetBPF(opts.Filter); err != nil {
			tp.Close()
			return nil, fmt.Errorf("live capture on %q: attach BPF filter: %w", opts.Interface, err)
		}
	}
	return &Live{tp: tp, iface: opts.Interface}, nil
}

// ReadFrame returns the next frame; it is valid until the next call.
func (l *Live) ReadFrame() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := l.tp.ZeroCopyReadPacketData()
	if errors.Is(err, afpacket.ErrTimeout) || errors.Is(err, afpacket.ErrPoll) {
		return nil, ci, ErrTimeout
	}
	return data, ci, err
}

// LinkType is Ethernet: AF_PACKET SOCK_RAW gives Ethernet framing on veth, NICs and lo.
func (l *Live) LinkType() layers.LinkType { return layers.LinkTypeEthernet }

// Stats reads the kernel's counters since the socket opened. Each read resets the kernel's
// own counters, so the totals are kept here.
func (l *Live) Stats() (KernelStats, error) {
	_, v3, err := l.tp.SocketStats()
	if err != nil {
		return KernelStats{}, err
	}
	return KernelStats{Packets: uint64(v3.Packets()), Drops: uint64(v3.Drops()), QueueFreezes: uint64(v3.QueueFreezes())}, nil
}

// Close releases the ring.
func (l *Live) Close() error {
	l.tp.Close()
	return nil
}
