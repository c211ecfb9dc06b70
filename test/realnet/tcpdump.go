package realnet

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Tcpdump is a tcpdump process writing a pcap file.
type Tcpdump struct {
	File   string
	proc   *proc
	settle time.Duration // wait before stopping, for packets still in the ring
}

// TcpdumpStats is what tcpdump reported when it stopped.
type TcpdumpStats struct {
	Captured, Received, KernelDropped int
}

// StartTcpdump captures on iface in namespace ns into file, with an optional BPF filter, and
// returns once tcpdump is listening. It takes packets whole (-s 0) with a 16 MiB kernel buffer,
// reads the ring a block at a time (not --immediate-mode: on two busy cores the oracle dropped
// packets per-packet wake-ups could not keep up with, while the sidecar dropped none), writes
// each block out at once (-U), and keeps root, so file may be anywhere. Stop waits for the last
// block. A Cleanup stops it.
func StartTcpdump(t TB, pair *Pair, ns, iface, file, filter string) *Tcpdump {
	t.Helper()
	return startTcpdump(t, pair, ns, iface, file, filter, false)
}

// ringTimeout is how long tcpdump lets packets wait in the TPACKET_V3 ring without
// --immediate-mode, plus a margin.
const ringTimeout = 1200 * time.Millisecond

// immediateSettle is how long Stop waits even with --immediate-mode: on two busy cores tcpdump
// may not have run since the last packet arrived, and packets still in the ring when SIGINT
// lands are counted as received but never written (seen in CI: a statement missing from the
// pcap of TestCaptureAndDissect).
const immediateSettle = 300 * time.Millisecond

// startTcpdump is StartTcpdump, or, when immediate is false, tcpdump reading the ring a block
// at a time: far fewer wake-ups, hence no kernel drops under load on two cores, but Stop must
// then wait ringTimeout for the last block, or the packets in it are lost (tcpdump reports them
// received, not captured).
func startTcpdump(t TB, pair *Pair, ns, iface, file, filter string, immediate bool) *Tcpdump {
	t.Helper()
	bin := lookPath(t, "tcpdump")
	args := []string{"-n", "-i", iface, "-U", "-s", "0", "-B", "16384", "-Z", "root", "-w", file}
	d := &Tcpdump{File: file}
	if immediate {
		args = append(args, "--immediate-mode")
		d.settle = immediateSettle
	} else {
		d.settle = ringTimeout
	}
	if filter != "" {
		args = append(args, filter)
	}
	d.proc = startProc(t, "tcpdump", pair.Exec(ns, bin, args...), syscall.SIGINT)
	err := waitUntil(t.Context(), 10*time.Second, 10*time.Millisecond, d.proc, func(context.Context) error {
		if strings.Contains(d.proc.log.String(), "listening on") {
			return nil
		}
		return errors.New("tcpdump has not said it is listening")
	})
	if err != nil {
		t.Fatalf("realnet: %v\n%s", err, tail(d.proc.log.String(), 4000))
	}
	return d
}

var tcpdumpStat = regexp.MustCompile(`(?m)^(\d+) packets? (captured|received by filter|dropped by kernel)$`)

// Stop interrupts tcpdump, waits until it has flushed and exited (bounded), and returns the
// counts it printed. It is safe to call twice, and the Cleanup calls it anyway.
func (d *Tcpdump) Stop() (TcpdumpStats, error) {
	if !d.proc.exited() {
		time.Sleep(d.settle)
	}
	err := d.proc.stop(syscall.SIGINT, stopTimeout)
	var stats TcpdumpStats
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return stats, fmt.Errorf("tcpdump: %w", err)
	}
	log := d.proc.log.String()
	found := 0
	for _, m := range tcpdumpStat.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		found++
		switch m[2] {
		case "captured":
			stats.Captured = n
		case "received by filter":
			stats.Received = n
		case "dropped by kernel":
			stats.KernelDropped = n
		}
	}
	if found == 0 {
		return stats, fmt.Errorf("tcpdump printed no statistics (exit: %w): %s", err, tail(log, 2000))
	}
	return stats, nil
}

// Tshark runs tshark -n -r file with args (for example "-Y", "mysql.query", "-T", "fields",
// "-e", "mysql.query") and returns its standard output. It is bounded to two minutes.
func Tshark(t TB, file string, args ...string) (string, error) {
	t.Helper()
	bin := lookPath(t, "tshark")
	cmd := exec.Command(bin, append([]string{"-n", "-r", file}, args...)...)
	return runWithInput("tshark", cmd, "", 2*time.Minute)
}
