package realnet

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Dumpcap is a dumpcap process writing a pcapng file from several interfaces: each packet
// carries its interface, which the file names in its Interface Description Blocks, as a
// capture of a whole pod (eth0 and lo) has it.
type Dumpcap struct {
	File string
	proc *proc
}

// StartDumpcap captures on ifaces in namespace ns into the pcapng file, packets whole, and
// returns once dumpcap says it is capturing. A Cleanup stops it.
func StartDumpcap(t TB, pair *Pair, ns, file string, ifaces ...string) *Dumpcap {
	t.Helper()
	bin := lookPath(t, "dumpcap")
	args := []string{"-q", "-s", "0", "-B", "16", "-w", file}
	for _, i := range ifaces {
		args = append(args, "-i", i)
	}
	d := &Dumpcap{File: file}
	d.proc = startProc(t, "dumpcap", pair.Exec(ns, bin, args...), syscall.SIGINT)
	err := waitUntil(t.Context(), 10*time.Second, 10*time.Millisecond, d.proc, func(context.Context) error {
		if strings.Contains(d.proc.log.String(), "Capturing on") {
			return nil
		}
		return errors.New("dumpcap has not said it is capturing")
	})
	if err != nil {
		t.Fatalf("realnet: %v\n%s", err, tail(d.proc.log.String(), 4000))
	}
	return d
}

// Stop waits for packets still in the kernel's buffer, interrupts dumpcap and waits until it
// has written the file out and exited (bounded).
func (d *Dumpcap) Stop() error {
	if !d.proc.exited() {
		time.Sleep(ringTimeout)
	}
	err := d.proc.stop(syscall.SIGINT, stopTimeout)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return fmt.Errorf("dumpcap: %w", err)
	}
	return nil
}
