package realnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Addresses of a pair. Each pair has namespaces of its own, so every pair can use the same ones.
var (
	PodIP   = netip.MustParseAddr("10.231.0.1")
	PeerIP  = netip.MustParseAddr("10.231.0.2")
	PodIP6  = netip.MustParseAddr("fd00:231::1")
	PeerIP6 = netip.MustParseAddr("fd00:231::2")
)

// MAC addresses of the veth ends (locally administered), fixed so that captures are stable.
const (
	PodMAC  = "02:00:0a:e7:00:01"
	PeerMAC = "02:00:0a:e7:00:02"
)

const (
	prefixLen4 = 24
	prefixLen6 = 64
)

// pairSeq numbers the pairs of this process, so that names are unique per pid and call.
var pairSeq atomic.Int64

// Pair is two network namespaces, "pod" and "peer", joined by a veth pair. Both have lo up; the
// veth ends carry IPv4 and IPv6 addresses that are usable at once (no DAD). Offloads keep the
// veth defaults, so captures see GSO super-packets unless DisableOffloads is called.
type Pair struct {
	PodNS, PeerNS   string     // names under /run/netns
	PodIf, PeerIf   string     // veth ends inside PodNS and PeerNS
	PodIP, PeerIP   netip.Addr // IPv4, in 10.231.0.0/24
	PodIP6, PeerIP6 netip.Addr // IPv6, in fd00:231::/64

	ip string // path of the ip binary
}

// NewPair creates the namespaces and the veth pair, and deletes them in a Cleanup (after the
// Cleanups of everything started in them later, which run first).
func NewPair(t TB) *Pair {
	t.Helper()
	requireRoot(t)
	p := &Pair{
		PodIf: "eth0", PeerIf: "peer0",
		PodIP: PodIP, PeerIP: PeerIP, PodIP6: PodIP6, PeerIP6: PeerIP6,
		ip: lookPath(t, "ip"),
	}
	base := fmt.Sprintf("realnet-%d-%d", os.Getpid(), pairSeq.Add(1))
	p.PodNS, p.PeerNS = base+"-pod", base+"-peer"
	for _, ns := range []string{p.PodNS, p.PeerNS} {
		p.mustIP(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command(p.ip, "netns", "delete", ns).Run() })
		// nodad covers only our addresses; this makes the link-local ones usable at once too.
		if err := InNS(ns, disableDAD); err != nil {
			t.Fatalf("realnet: %s: %v", ns, err)
		}
	}
	// Created straight into the namespaces, so the interface names never meet in the root one.
	p.mustIP(t, "link", "add", p.PodIf, "address", PodMAC, "netns", p.PodNS,
		"type", "veth", "peer", "name", p.PeerIf, "address", PeerMAC, "netns", p.PeerNS)
	for _, end := range []struct {
		ns, ifname string
		v4, v6     netip.Addr
		otherV6    netip.Addr
		otherMAC   string
	}{
		{p.PodNS, p.PodIf, p.PodIP, p.PodIP6, p.PeerIP6, PeerMAC},
		{p.PeerNS, p.PeerIf, p.PeerIP, p.PeerIP6, p.PodIP6, PodMAC},
	} {
		p.mustIP(t, "-n", end.ns, "link", "set", "lo", "up")
		p.mustIP(t, "-n", end.ns, "addr", "add", netip.PrefixFrom(end.v4, prefixLen4).String(), "dev", end.ifname)
		p.mustIP(t, "-n", end.ns, "addr", "add", netip.PrefixFrom(end.v6, prefixLen6).String(), "dev", end.ifname, "nodad")
		// The first neighbour solicitation right after link-up often goes unanswered, which
		// costs a one-second retransmit; a static entry makes IPv6 usable at once. ARP works.
		p.mustIP(t, "-n", end.ns, "neigh", "replace", end.otherV6.String(), "lladdr", end.otherMAC,
			"dev", end.ifname, "nud", "permanent")
		p.mustIP(t, "-n", end.ns, "link", "set", end.ifname, "up")
	}
	return p
}

func (p *Pair) mustIP(t TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(p.ip, args...).CombinedOutput(); err != nil {
		t.Fatalf("realnet: ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Exec returns a command that runs name in namespace ns (p.PodNS or p.PeerNS) through
// `ip netns exec`, which execs it, so the command's pid is that of name itself.
func (p *Pair) Exec(ns, name string, args ...string) *exec.Cmd {
	return exec.Command(p.ip, append([]string{"netns", "exec", ns, name}, args...)...)
}

// InNS runs fn on an OS thread that is switched into namespace ns, then switches it back.
// Sockets keep the namespace they were created in, so a connection or listener made in fn
// may be used from any goroutine afterwards. fn must not start goroutines that create sockets.
func InNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// If switching back fails the thread stays locked, and the runtime ends it with this
		// goroutine instead of reusing it in the wrong namespace.
		runtime.LockOSThread()
		errc <- inNSLocked(ns, fn)
	}()
	return <-errc
}

func inNSLocked(ns string, fn func() error) error {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own netns: %w", err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", ns, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("leave netns %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return fnErr
}

// Dial connects from the pod namespace. addr must hold an IP literal, not a name. Its signature
// fits mysql.RegisterDialContext (with network "tcp"), pgconn's DialFunc and http.Transport.
func (p *Pair) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := InNS(p.PodNS, func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Listen listens in namespace ns, for tests that need a peer of their own.
func (p *Pair) Listen(ns, network, addr string) (net.Listener, error) {
	var l net.Listener
	err := InNS(ns, func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// disableDAD turns off duplicate address detection for interfaces created later in the
// calling thread's namespace.
func disableDAD() error {
	for _, conf := range []string{"all", "default"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+conf+"/accept_dad", []byte("0"), 0); err != nil {
			return fmt.Errorf("disable DAD: %w", err)
		}
	}
	return nil
}

// HostPair is a Pair whose "pod" and "peer" are both this process's own network namespace,
// under a name of its own in /run/netns, so that the servers of this package listen on peer
// and peer6, addresses of this host (a test node's address, say), for clients in the ranges of
// pod and pod6 (PostgreSQL admits pod/24 and pod6/64). Nothing is created but the name, which
// a Cleanup removes; the namespace itself stays, since this process lives in it.
func HostPair(t TB, peer, peer6, pod, pod6 netip.Addr) *Pair {
	t.Helper()
	requireRoot(t)
	p := &Pair{PodIP: pod, PodIP6: pod6, PeerIP: peer, PeerIP6: peer6, ip: lookPath(t, "ip")}
	p.PodNS = fmt.Sprintf("realnet-%d-%d-host", os.Getpid(), pairSeq.Add(1))
	p.PeerNS = p.PodNS
	p.mustIP(t, "netns", "attach", p.PodNS, strconv.Itoa(os.Getpid()))
	t.Cleanup(func() { _ = exec.Command(p.ip, "netns", "delete", p.PodNS).Run() })
	return p
}
