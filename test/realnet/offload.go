package realnet

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DisableOffloads turns off TSO, GSO and GRO on both veth ends, so that every captured packet
// fits the MTU. The default keeps them on, because the capture must handle GSO super-packets
// (segments of up to 64 KiB on a veth). It uses the ethtool ioctls directly, so it needs no
// ethtool binary.
func (p *Pair) DisableOffloads(t TB) {
	t.Helper()
	for _, end := range [][2]string{{p.PodNS, p.PodIf}, {p.PeerNS, p.PeerIf}} {
		if err := InNS(end[0], func() error { return disableOffloads(end[1]) }); err != nil {
			t.Fatalf("realnet: disable offloads on %s in %s: %v", end[1], end[0], err)
		}
	}
}

// ethtoolValue is struct ethtool_value from linux/ethtool.h.
type ethtoolValue struct{ cmd, data uint32 }

// ifreqData is struct ifreq with ifr_data, as the ethtool ioctl takes it.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [24 - unsafe.Sizeof(uintptr(0))]byte
}

func disableOffloads(ifname string) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	for _, cmd := range []uint32{unix.ETHTOOL_STSO, unix.ETHTOOL_SGSO, unix.ETHTOOL_SGRO} {
		v := ethtoolValue{cmd: cmd}
		ifr := ifreqData{data: unsafe.Pointer(&v)}
		copy(ifr.name[:], ifname)
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
			return fmt.Errorf("ethtool command %#x: %w", cmd, errno)
		}
	}
	return nil
}
