package realnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dnsLoad starts dnsmasq and returns rounds of lookups over UDP from the pod namespace: clients
// sockets, each sending a query and waiting for its answer, through A, AAAA, TXT, MX, SRV and
// NXDOMAIN in turn.
func dnsLoad(t TB, pair *Pair, clients int) loadProtocol {
	t.Helper()
	d := StartDnsmasq(t, pair, DnsmasqOptions{})
	questions := []struct {
		name string
		typ  uint16
	}{{DNSHostName, 1}, {DNSHostName, 28}, {DNSTXTName, 16}, {DNSMXName, 15}, {DNSSRVName, 33}, {"nope." + DNSZone, 1}}
	var wire [][]byte
	for _, q := range questions {
		wire = append(wire, dnsQuery(q.name, q.typ))
	}
	server := &net.UDPAddr{IP: net.IP(pair.PeerIP.AsSlice()), Port: d.Port}
	return loadProtocol{port: d.Port, filter: "port " + strconv.Itoa(d.Port), first: 20000, most: 200000, round: func(_, n int) error {
		var wg sync.WaitGroup
		errs := make([]error, clients)
		for c := range clients {
			var conn *net.UDPConn
			if err := InNS(pair.PodNS, func() error {
				var err error
				conn, err = net.DialUDP("udp", nil, server)
				return err
			}); err != nil {
				return err
			}
			wg.Go(func() {
				defer conn.Close()
				errs[c] = dnsClient(conn, wire, c, n/clients)
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}}
}

// dnsClient sends n queries from conn, one at a time, each with a fresh id, and reads each
// answer. A lost answer is retried once after a second.
func dnsClient(conn *net.UDPConn, wire [][]byte, client, n int) error {
	buf := make([]byte, 1500)
	for i := range n {
		q := wire[(i+client)%len(wire)]
		binary.BigEndian.PutUint16(q, uint16(i*7+client))
		var err error
		for range 2 {
			if _, err = conn.Write(q); err != nil {
				return fmt.Errorf("dns load: %w", err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			var m int
			if m, err = conn.Read(buf); err == nil && m >= 2 && buf[0] == q[0] && buf[1] == q[1] {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("dns load: query %d: %w", i, err)
		}
	}
	return nil
}

// dnsQuery builds a recursive query (id 0) for name and type, class IN.
func dnsQuery(name string, typ uint16) []byte {
	b := []byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, label := range strings.Split(name, ".") {
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	return binary.BigEndian.AppendUint16(b, 1)
}
