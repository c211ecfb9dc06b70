package realnet

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DNSZone is the zone that StartDnsmasq serves; names in it that are not below are NXDOMAIN.
const DNSZone = "wire-audit.test"

// DNS records that StartDnsmasq serves, in DNSZone.
var (
	DNSHostName = "www." + DNSZone // A DNSHostIP4 and AAAA DNSHostIP6
	DNSHostIP4  = "10.231.7.8"
	DNSHostIP6  = "fd00:231::7:8"
	DNSTXTName  = "txt." + DNSZone // TXT "v=audit1" "hello world"
	DNSMXName   = DNSZone          // MX 10 mail.DNSZone
	DNSSRVName  = "_sql._tcp." + DNSZone
)

// DnsmasqOptions configures StartDnsmasq. The zero value is ready to use.
type DnsmasqOptions struct {
	// Port to listen on (UDP and TCP) in the peer namespace. Default 53.
	Port int
	// ExtraAddrs are more addresses of the peer namespace to answer on, besides the peer's
	// IPv4 address; they must exist when dnsmasq starts.
	ExtraAddrs []string
}

// Dnsmasq is a dnsmasq running in the peer namespace of a pair, authoritative-style for
// DNSZone (no upstream, no /etc/hosts), over UDP and TCP on the peer's IPv4 address.
type Dnsmasq struct {
	Addr string // host:port on the peer's IPv4 address
	Port int

	pair *Pair
	dig  string
	proc *proc
}

// StartDnsmasq runs dnsmasq in the foreground in the peer namespace and waits until it answers
// a query from the pod namespace. dig (bind9-dnsutils) is the client.
func StartDnsmasq(t TB, pair *Pair, opts DnsmasqOptions) *Dnsmasq {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = 53
	}
	bin := lookPath(t, "dnsmasq", "/usr/sbin/dnsmasq")
	d := &Dnsmasq{
		Addr: net.JoinHostPort(pair.PeerIP.String(), strconv.Itoa(opts.Port)),
		Port: opts.Port, pair: pair, dig: lookPath(t, "dig"),
	}
	args := []string{"--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
		"--user=root", "--group=root", "--pid-file=", "--log-facility=-",
		"--bind-interfaces", "--listen-address=" + pair.PeerIP.String(), "--except-interface=lo",
		"--port=" + strconv.Itoa(opts.Port), "--cache-size=0",
		"--local=/" + DNSZone + "/",
		"--host-record=" + DNSHostName + "," + DNSHostIP4 + "," + DNSHostIP6,
		"--txt-record=" + DNSTXTName + ",v=audit1,hello world",
		"--mx-host=" + DNSMXName + ",mail." + DNSZone + ",10",
		"--srv-host=" + DNSSRVName + ",db." + DNSZone + ",3306,5,20",
	}
	for _, a := range opts.ExtraAddrs {
		args = append(args, "--listen-address="+a)
	}
	d.proc = startProc(t, "dnsmasq", pair.Exec(pair.PeerNS, bin, args...), syscall.SIGTERM)
	err := waitUntil(t.Context(), 10*time.Second, 20*time.Millisecond, d.proc, func(context.Context) error {
		out, err := d.Dig(DNSHostName, "A")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != DNSHostIP4 {
			return fmt.Errorf("dig %s: got %q", DNSHostName, out)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("realnet: dnsmasq: %v\n%s", err, tail(d.proc.log.String(), 4000))
	}
	return d
}

// Dig runs dig in the pod namespace against the server for name and type, with extra flags
// (such as "+tcp"), and returns its short answer (+short): one record's data per line. A
// name that does not exist gives an empty answer; use DigStatus for the response code.
func (d *Dnsmasq) Dig(name, typ string, flags ...string) (string, error) {
	return d.DigVia(d.pair.PeerIP.String(), name, typ, flags...)
}

// DigVia is Dig asking the server at addr, one of its ExtraAddrs.
func (d *Dnsmasq) DigVia(addr, name, typ string, flags ...string) (string, error) {
	args := append([]string{"@" + addr, "-p", strconv.Itoa(d.Port),
		"+short", "+tries=1", "+time=2", name, typ}, flags...)
	return runWithInput("dig", d.pair.Exec(d.pair.PodNS, d.dig, args...), "", 10*time.Second)
}

// DigStatus runs dig like Dig and returns the response code dig printed (NOERROR, NXDOMAIN...).
func (d *Dnsmasq) DigStatus(name, typ string, flags ...string) (string, error) {
	args := append([]string{"@" + d.pair.PeerIP.String(), "-p", strconv.Itoa(d.Port),
		"+tries=1", "+time=2", name, typ}, flags...)
	out, err := runWithInput("dig", d.pair.Exec(d.pair.PodNS, d.dig, args...), "", 10*time.Second)
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(out, "status: ")
	if !ok {
		return "", fmt.Errorf("dig printed no status: %s", tail(out, 1000))
	}
	status, _, _ := strings.Cut(rest, ",")
	return status, nil
}

// Stop ends dnsmasq (bounded); later queries go unanswered. The Cleanup calls it anyway.
func (d *Dnsmasq) Stop() error { return d.proc.stop(syscall.SIGTERM, stopTimeout) }
