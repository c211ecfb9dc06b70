// Package freeport picks TCP ports for the processes tests start: webhooks, API servers,
// kubelets, Kafka brokers. The test only learns the port; the process binds it later, so the
// port must stay free in between.
//
// Two things took such ports before. A port from ":0" comes from the kernel's ephemeral range,
// where every outgoing connection of every test also takes its local port. And a port that one
// pick closed again could come back from the next pick in the same process: once a webhook got
// the same port for its metrics and its health probe, and exited at start. So a pick here comes
// from below the ephemeral range and below Kubernetes' NodePort range (30000-32767, which a
// test node's kube-proxy could claim), and never repeats within a process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// base is the lowest port picked, top the first one above the range.
const base, top = 20000, 30000

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Port returns a port on ip that was free a moment ago and that no earlier call in this
// process returned.
func Port(ip netip.Addr) (int, error) {
	mu.Lock()
	defer mu.Unlock()
	low := min(ephemeralLow(), top)
	for range 500 {
		port := base + rand.IntN(max(low-base, 1))
		if given[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		given[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("freeport: no free port on %s in %d-%d after 500 tries", ip, base, low-1)
}

// Loopback is Port on 127.0.0.1.
func Loopback() (int, error) { return Port(netip.AddrFrom4([4]byte{127, 0, 0, 1})) }

// Test is Loopback for a test or benchmark, which it fails when no port is free.
func Test(tb testing.TB) int {
	tb.Helper()
	p, err := Loopback()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// LoopbackAddr is Loopback as "127.0.0.1:port".
func LoopbackAddr() (string, error) {
	p, err := Loopback()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768 when unknown).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= base {
		return 32768
	}
	return n
}
