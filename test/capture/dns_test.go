package capture_test

import (
	"crypto/rand"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/realnet"
)

const dnsConfig = `{"version":1,"protocols":[{"name":"dns","ports":[53]}],"flows":false,"kafka":{"topic":"t"},"healthPort":15099}`

// digCase is one lookup: what dig asked, over which transport, and what it printed.
type digCase struct {
	name, typ string
	tcp       bool
	rcode     string
	short     []string // dig +short lines
}

// TestDNS drives a real dnsmasq from the pod namespace with dig, over UDP and TCP, while the
// sidecar captures live on the pod's veth and tcpdump writes a pcap. Every lookup must give
// exactly one event that agrees with what dig printed; garbage sent to port 53 gives none; a
// query to a stopped server ends as Error after the transaction timeout. The pcap is replayed
// and dissected by tshark for a cross-check.
func TestDNS(t *testing.T) {
	pair := realnet.NewPair(t)
	dm := realnet.StartDnsmasq(t, pair, realnet.DnsmasqOptions{})
	pcap := filepath.Join(t.TempDir(), "dns.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, pair.PodIf, pcap, "port 53")
	sc := startSidecar(t, pair, dnsConfig, "--transaction-timeout", "1s")

	var cases []digCase
	for _, tcp := range []bool{false, true} {
		var flags []string
		if tcp {
			flags = []string{"+tcp"}
		}
		for _, q := range [][2]string{{realnet.DNSHostName, "A"}, {realnet.DNSHostName, "AAAA"}, {realnet.DNSTXTName, "TXT"},
			{realnet.DNSMXName, "MX"}, {realnet.DNSSRVName, "SRV"}} {
			out, err := dm.Dig(q[0], q[1], flags...)
			if err != nil || strings.TrimSpace(out) == "" {
				t.Fatalf("dig %v: %q %v", q, out, err)
			}
			cases = append(cases, digCase{q[0], q[1], tcp, "NOERROR", strings.Split(strings.TrimSpace(out), "\n")})
		}
		missing := "nope." + realnet.DNSZone
		st, err := dm.DigStatus(missing, "A", flags...)
		if err != nil || st != "NXDOMAIN" {
			t.Fatalf("dig %s: %q %v", missing, st, err)
		}
		cases = append(cases, digCase{missing, "A", tcp, "NXDOMAIN", nil})
	}
	sendDNSGarbage(t, pair)
	// A query the server never answers: it ends as Error after the timeout.
	if err := dm.Stop(); err != nil {
		t.Logf("dnsmasq stop: %v", err)
	}
	if _, err := dm.Dig("late."+realnet.DNSZone, "A"); err == nil {
		t.Fatal("dig got an answer from a stopped server")
	}
	time.Sleep(2500 * time.Millisecond) // past the 1 s timeout, and a Tick

	live := sc.stop(t)
	stopOracle(t, dump)
	evs := transactions(live, event.TypeDNS)
	if len(evs) != len(cases)+1 {
		for _, ev := range evs {
			t.Logf("event %s %s %s %v", ev.Network.Transport, ev.Query, ev.Status, ev.Error)
		}
		t.Fatalf("%d dns events, want %d; sidecar log:\n%s", len(evs), len(cases)+1, sc.stderr.String())
	}
	for _, c := range cases {
		ev := oneDNS(t, evs, c)
		checkIdentity(t, ev, pair, 53)
		d := ev.DNS
		if d.ResponseCode != c.rcode || d.Question.Class != "IN" || len(d.Answers) != len(c.short) || ev.Event.Duration <= 0 {
			t.Errorf("%+v: rcode %q answers %+v", c, d.ResponseCode, d.Answers)
			continue
		}
		for i, line := range c.short {
			if got := digShort(d.Answers[i]); got != line && !(c.typ == "TXT" && d.Answers[i].Data == txtData(line)) {
				t.Errorf("%s %s tcp=%v: answer %q, dig printed %q", c.name, c.typ, c.tcp, got, line)
			}
		}
		if wantStatus := map[bool]string{true: event.StatusOK, false: event.StatusError}[c.rcode == "NOERROR"]; ev.Status != wantStatus {
			t.Errorf("%+v: status %q", c, ev.Status)
		}
	}
	late := oneDNS(t, evs, digCase{name: "late." + realnet.DNSZone, typ: "A"})
	if late.Status != event.StatusError || late.Error == nil || late.DNS.ResponseCode != "" {
		t.Errorf("unanswered query: status %q error %v rcode %q", late.Status, late.Error, late.DNS.ResponseCode)
	}

	// The pcap: tshark sees the same responses to dig, and a replay gives the same events.
	// (tshark also dissects some of the random datagrams as DNS; the sidecar made no event of
	// them, as the count above shows.)
	resp := tsharkFields(t, pcap, "-Y", `dns.flags.response == 1 && dns.qry.name matches "wire-audit\\.test$"`, "-T", "fields", "-e", "dns.id", "-e", "dns.qry.name", "-e", "dns.flags.rcode")
	var fromTshark, fromLive []string
	for _, l := range resp {
		f := strings.Split(l, "\t")
		id, _ := strconv.ParseUint(strings.TrimPrefix(f[0], "0x"), 16, 16)
		rcode, _ := strconv.Atoi(f[2])
		fromTshark = append(fromTshark, fmt.Sprintf("%d %s %d", id, f[1], rcode))
	}
	for _, ev := range evs {
		if ev.DNS.ResponseCode != "" {
			fromLive = append(fromLive, fmt.Sprintf("%d %s %d", ev.DNS.ID, ev.DNS.Question.Name, map[string]int{"NOERROR": 0, "NXDOMAIN": 3}[ev.DNS.ResponseCode]))
		}
	}
	slices.Sort(fromTshark)
	slices.Sort(fromLive)
	if !slices.Equal(fromTshark, fromLive) {
		t.Errorf("responses:\n sidecar %q\n tshark  %q", fromLive, fromTshark)
	}
	if got, want := summary(transactions(replay(t, pcap, dnsConfig), event.TypeDNS)), summary(evs); !slices.Equal(got, want) {
		t.Errorf("replay differs from live:\n replay %q\n live   %q", got, want)
	}
}

// oneDNS returns the single event of c's question over c's transport.
func oneDNS(t *testing.T, evs []event.Event, c digCase) event.Event {
	t.Helper()
	transport := map[bool]string{true: "tcp", false: "udp"}[c.tcp]
	var got []event.Event
	for _, ev := range evs {
		if ev.DNS.Question.Name == c.name && ev.DNS.Question.Type == c.typ && ev.Network.Transport == transport {
			got = append(got, ev)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d events for %s %s over %s, want 1", len(got), c.name, c.typ, transport)
	}
	return got[0]
}

// digShort renders an answer as dig +short prints it.
func digShort(a event.DNSAnswer) string {
	switch a.Type {
	case "A", "AAAA":
		return a.Data
	case "MX":
		return fmt.Sprintf("%d %s.", a.Preference, a.Data)
	case "SRV":
		return fmt.Sprintf("%d %d %d %s.", a.Priority, a.Weight, a.Port, a.Data)
	}
	return a.Data + "."
}

// txtData turns dig's TXT line ("a" "b c") into the event's data: the strings joined by a space.
func txtData(line string) string {
	var parts []string
	for _, f := range strings.Split(line, `" "`) {
		parts = append(parts, strings.Trim(f, `"`))
	}
	return strings.Join(parts, " ")
}

// sendDNSGarbage sends random bytes to port 53 of the peer over UDP and TCP from the pod.
func sendDNSGarbage(t *testing.T, pair *realnet.Pair) {
	t.Helper()
	buf := make([]byte, 300)
	err := realnet.InNS(pair.PodNS, func() error {
		u, err := net.Dial("udp", net.JoinHostPort(pair.PeerIP.String(), "53"))
		if err != nil {
			return err
		}
		defer u.Close()
		for i := range 50 {
			_, _ = rand.Read(buf)
			if _, err := u.Write(buf[:12+i*5]); err != nil {
				return err
			}
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(pair.PeerIP.String(), "53"), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_, _ = rand.Read(buf)
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Write(buf)
		return err
	})
	if err != nil {
		t.Fatalf("garbage: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
}
