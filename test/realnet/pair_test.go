package realnet_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/test/realnet"
)

func TestPairReachableBothWays(t *testing.T) {
	t.Parallel()
	p := realnet.NewPair(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name             string
		listenNS, dialNS string
		to               netip.Addr
	}{
		{"pod to peer v4", p.PeerNS, p.PodNS, p.PeerIP},
		{"pod to peer v6", p.PeerNS, p.PodNS, p.PeerIP6},
		{"peer to pod v4", p.PodNS, p.PeerNS, p.PodIP},
		{"peer to pod v6", p.PodNS, p.PeerNS, p.PodIP6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := p.Listen(tc.listenNS, "tcp", net.JoinHostPort(tc.to.String(), "0"))
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				_, _ = c.Write([]byte("hello from " + tc.listenNS))
			}()
			addr := net.JoinHostPort(tc.to.String(), strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
			var c net.Conn
			err = realnet.InNS(tc.dialNS, func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, "tcp", addr)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if want := "hello from " + tc.listenNS; string(got) != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap(); local.Is4() != tc.to.Is4() {
				t.Errorf("dialled from %v, want the same family as %v", local, tc.to)
			}
		})
	}
}

func TestPairDialUsesPodNamespace(t *testing.T) {
	t.Parallel()
	p := realnet.NewPair(t)
	l, err := p.Listen(p.PeerNS, "tcp", net.JoinHostPort(p.PeerIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		accepted <- c.RemoteAddr()
		c.Close()
	}()
	c, err := p.Dial(t.Context(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := (<-accepted).(*net.TCPAddr).AddrPort().Addr(); got != p.PodIP {
		t.Errorf("peer saw a connection from %v, want %v", got, p.PodIP)
	}
	// The root namespace has no route to the pair, so a plain dial must fail there.
	d := net.Dialer{Timeout: 500 * time.Millisecond}
	if c, err := d.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Error("dial from the test's own namespace reached the peer; the pair is not isolated")
	}
}

func TestPairNamesAreUnique(t *testing.T) {
	t.Parallel()
	a, b := realnet.NewPair(t), realnet.NewPair(t)
	if a.PodNS == b.PodNS || a.PeerNS == b.PeerNS {
		t.Errorf("two pairs share namespaces: %q %q, %q %q", a.PodNS, b.PodNS, a.PeerNS, b.PeerNS)
	}
}
