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

// ringTimeout is how long tcpdump lets packets wait in the TPACKET_V3 ring without
// --immediate-mode, plus a margin.
const ringTimeout = 1200 * time.Millisecond

// StartTcpdump captures on iface in namespace ns into file, with an optional BPF filter, and
// returns once tcpdump is listening. It takes packets whole (-s 0) with a 16 MiB kernel buffer,
// writes each block out at once (-U), and keeps root, so file may be anywhere. It reads the
// ring a block at a time, not with --immediate-mode: under load on two cores the per-packet
// wake-ups of immediate mode made tcpdump drop 148 of 494 packets while the sidecar dropped
// none. Stop therefore waits ringTimeout for the last block, or the packets in it would be lost
// (tcpdump would report them received, not captured). A Cleanup stops it.
func StartTcpdump(t TB, pair *Pair, ns, iface, file, filter string) *Tcpdump {
	t.Helper()
	bin := lookPath(t, "tcpdump")
	args := []string{"-n", "-i", iface, "-U", "-s", "0", "-B", "16384", "-Z", "root", "-w", file}
	d := &Tcpdump{File: file, settle: ringTimeout}
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
