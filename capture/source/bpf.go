package source

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Filter describes what the kernel passes up: TCP and UDP packets to or from the given ports,
// over IPv4 or IPv6, on an Ethernet-framed interface (AF_PACKET gives Ethernet framing on
// veth, physical NICs and lo). AllTCP or AllUDP pass every packet of that transport, for
// protocols found by content rather than by port.
type Filter struct {
	TCPPorts, UDPPorts []uint16
	AllTCP, AllUDP     bool
}

// maxPorts keeps every conditional jump of the program within the 8-bit offsets of classic
// BPF.
const maxPorts = 120

// Program compiles f to classic BPF. Frames with a VLAN tag still in them are passed whole
// (userspace decodes them); IPv4 fragments after the first carry no ports and are dropped.
func (f Filter) Program() ([]bpf.RawInstruction, error) {
	if len(f.TCPPorts) > maxPorts || len(f.UDPPorts) > maxPorts {
		return nil, fmt.Errorf("bpf: at most %d ports per transport, got tcp %d, udp %d",
			maxPorts, len(f.TCPPorts), len(f.UDPPorts))
	}
	// Conditional jumps reach 255 instructions at most, so they go to a nearby trampoline
	// (an unconditional jump) or to a return local to their section.
	var a asm
	a.ins(bpf.LoadAbsolute{Off: 12, Size: 2})
	a.jeq(0x8100, "accept", "")
	a.jeq(0x88a8, "accept", "")
	a.jeq(0x0800, "to-ip4", "")
	a.jeq(0x86dd, "to-ip6", "reject")
	a.trampoline("to-ip4", "ip4")
	a.trampoline("to-ip6", "ip6")
	a.returns("accept", "reject")

	for _, ip := range []struct {
		name     string
		protoOff uint32
	}{{"ip4", 23}, {"ip6", 20}} {
		a.label(ip.name)
		a.ins(bpf.LoadAbsolute{Off: ip.protoOff, Size: 1})
		a.jeq(6, "to-tcp-"+ip.name, "")
		a.jeq(17, "to-udp-"+ip.name, "reject-"+ip.name)
		a.trampoline("to-tcp-"+ip.name, "tcp-"+ip.name)
		a.trampoline("to-udp-"+ip.name, "udp-"+ip.name)
		a.returns("accept-"+ip.name, "reject-"+ip.name)
	}

	for _, t := range []struct {
		name  string
		all   bool
		ports []uint16
	}{
		{"tcp-ip4", f.AllTCP, f.TCPPorts}, {"udp-ip4", f.AllUDP, f.UDPPorts},
		{"tcp-ip6", f.AllTCP, f.TCPPorts}, {"udp-ip6", f.AllUDP, f.UDPPorts},
	} {
		a.label(t.name)
		acc, rej := "accept-"+t.name, "reject-"+t.name
		switch {
		case t.all:
			a.jump(acc)
		case t.name[len(t.name)-1] == '4':
			// A non-zero fragment offset means no transport header in this packet.
			a.ins(bpf.LoadAbsolute{Off: 20, Size: 2})
			a.jset(0x1fff, rej, "")
			a.ins(bpf.LoadMemShift{Off: 14})
			a.ins(bpf.LoadIndirect{Off: 14, Size: 2})
			a.ports(t.ports, acc)
			a.ins(bpf.LoadIndirect{Off: 16, Size: 2})
			a.ports(t.ports, acc)
		default:
			a.ins(bpf.LoadAbsolute{Off: 54, Size: 2})
			a.ports(t.ports, acc)
			a.ins(bpf.LoadAbsolute{Off: 56, Size: 2})
			a.ports(t.ports, acc)
		}
		a.jump(rej)
		a.returns(acc, rej)
	}
	return a.assemble()
}

// asm is a tiny assembler with labels for classic BPF jumps.
type asm struct {
	prog   []bpf.Instruction
	fixups []fixup
	labels map[string]int
}

type fixup struct {
	at          int
	true, false string // labels; "" falls through
	always      string
}

func (a *asm) ins(i bpf.Instruction) { a.prog = append(a.prog, i) }

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.prog)
}

func (a *asm) jeq(v uint32, t, f string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), true: t, false: f})
	a.ins(bpf.JumpIf{Cond: bpf.JumpEqual, Val: v})
}

func (a *asm) jset(v uint32, t, f string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), true: t, false: f})
	a.ins(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: v})
}

func (a *asm) jump(to string) {
	a.fixups = append(a.fixups, fixup{at: len(a.prog), always: to})
	a.ins(bpf.Jump{})
}

// trampoline places `name: ja to`.
func (a *asm) trampoline(name, to string) {
	a.label(name)
	a.jump(to)
}

// returns places `accept: ret snap` and `reject: ret 0`.
func (a *asm) returns(accept, reject string) {
	a.label(accept)
	a.ins(bpf.RetConstant{Val: snapLen})
	a.label(reject)
	a.ins(bpf.RetConstant{Val: 0})
}

// snapLen keeps whole packets, including 64 KiB GSO super-packets.
const snapLen = 1 << 18

func (a *asm) ports(ports []uint16, to string) {
	for _, p := range ports {
		a.jeq(uint32(p), to, "")
	}
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	skip := func(from int, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok {
			return 0, fmt.Errorf("bpf: no label %q", label)
		}
		return uint32(to - from - 1), nil
	}
	for _, f := range a.fixups {
		if f.always != "" {
			s, err := skip(f.at, f.always)
			if err != nil {
				return nil, err
			}
			a.prog[f.at] = bpf.Jump{Skip: s}
			continue
		}
		j := a.prog[f.at].(bpf.JumpIf)
		st, err := skip(f.at, f.true)
		if err != nil {
			return nil, err
		}
		sf, err := skip(f.at, f.false)
		if err != nil {
			return nil, err
		}
		if st > 255 || sf > 255 {
			return nil, fmt.Errorf("bpf: jump of %d/%d instructions does not fit", st, sf)
		}
		j.SkipTrue, j.SkipFalse = uint8(st), uint8(sf)
		a.prog[f.at] = j
	}
	return bpf.Assemble(a.prog)
}
