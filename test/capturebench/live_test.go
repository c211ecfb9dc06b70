package capturebench

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/audit-io/wire-audit/test/gobuild"
	"github.com/audit-io/wire-audit/test/realnet"
)

var (
	liveRate  = flag.Int("live-rate", 200_000, "Packets per second BenchmarkLive injects.")
	liveConns = flag.Int("live-conns", 10_000, "Concurrent MySQL connections BenchmarkLive opens.")
)

// buildCapture builds the sidecar binary once per benchmark run.
func buildCapture(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "capture")
	// As the image ships it (make capture): static and stripped.
	if err := gobuild.Go(tb.Context(), "../..", "./cmd/capture", bin, []string{"CGO_ENABLED=1"},
		"-tags", "netgo,osusergo", "-ldflags", "-s -w -linkmode external -extldflags -static"); err != nil {
		tb.Fatal(err)
	}
	return bin
}

// BenchmarkLive runs the sidecar binary live on the pod end of a veth pair while frames of
// -live-conns concurrent MySQL connections are injected at -live-rate packets per second from
// the other end. It reports the kernel's drop counter (PACKET_STATISTICS), the sidecar's peak
// RSS with every connection open at once, and the events it wrote. Run it once: -benchtime 1x.
func BenchmarkLive(b *testing.B) {
	pair := realnet.NewPair(b)
	frames, err := MySQLConversations(*liveConns, 40, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	bin := buildCapture(b)
	cfg := filepath.Join(b.TempDir(), "config.json")
	cfgJSON := fmt.Sprintf(`{"version":1,"interfaces":[%q],"protocols":[{"name":"mysql","ports":[3306]}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099}`, pair.PodIf)
	if err := os.WriteFile(cfg, []byte(cfgJSON), 0o600); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		cmd := pair.Exec(pair.PodNS, bin, "--config", cfg, "--stats-interval", "1h")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		events := make(chan int, 1)
		go func() {
			n := 0
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				n++
			}
			_, _ = io.Copy(io.Discard, stdout)
			events <- n
		}()
		waitReady(b, pair, cmd)

		b.ResetTimer()
		sent, elapsed := inject(b, pair, frames, *liveRate)
		b.StopTimer()
		// The peak RSS of the sidecar itself: rusage's maxrss would include the parent's
		// memory, which the child shares until it execs.
		hwm := vmHWM(b, cmd.Process.Pid)

		time.Sleep(time.Second) // let the ring drain before the sidecar stops
		_ = cmd.Process.Signal(syscall.SIGTERM)
		n := <-events
		if err := cmd.Wait(); err != nil {
			b.Fatalf("capture: %v\n%s", err, stderr.String())
		}
		st := stoppedStats(b, stderr.String())
		b.ReportMetric(float64(sent)/elapsed.Seconds(), "sent-pkts/s")
		b.ReportMetric(st["kernelPackets"], "kernel-pkts")
		b.ReportMetric(st["kernelDrops"], "kernel-drops")
		b.ReportMetric(float64(hwm)/1024, "peak-rss-MiB")
		b.ReportMetric(float64(n), "events")
		b.ReportMetric(st["connections"], "connections")
		if st["kernelPackets"] < float64(sent) {
			b.Errorf("kernel saw %v of %d injected packets", st["kernelPackets"], sent)
		}
	}
}

// waitReady polls the sidecar's /readyz from the pod namespace (bounded).
func waitReady(tb testing.TB, pair *realnet.Pair, cmd *exec.Cmd) {
	tb.Helper()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: pair.Dial}}
	for range 100 {
		resp, err := client.Get("http://127.0.0.1:15099/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	tb.Fatalf("sidecar not ready after 5 s")
}

// inject writes frames onto the peer end of the veth at rate packets per second through an
// AF_PACKET socket, and returns how many it sent and how long that took.
func inject(tb testing.TB, pair *realnet.Pair, frames []Frame, rate int) (int, time.Duration) {
	tb.Helper()
	var fd int
	err := realnet.InNS(pair.PeerNS, func() error {
		ifi, err := net.InterfaceByName(pair.PeerIf)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index})
	})
	if err != nil {
		tb.Fatalf("inject socket: %v", err)
	}
	defer unix.Close(fd)
	start := time.Now()
	const burst = 200
	for i, f := range frames {
		if i%burst == 0 {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d)
			}
		}
		var err error
		for try := 0; try < 1000; try++ {
			if _, err = unix.Write(fd, f.Data); err != unix.ENOBUFS && err != unix.EAGAIN {
				break
			}
			time.Sleep(10 * time.Microsecond)
		}
		if err != nil {
			tb.Fatalf("inject frame %d: %v", i, err)
		}
	}
	return len(frames), time.Since(start)
}

// stoppedStats reads the counters of the sidecar's final "capture stopped" log line.
func stoppedStats(tb testing.TB, logs string) map[string]float64 {
	tb.Helper()
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "capture stopped" {
			continue
		}
		out := map[string]float64{}
		for k, v := range m {
			if f, ok := v.(float64); ok {
				out[k] = f
			}
		}
		return out
	}
	tb.Fatalf("no \"capture stopped\" line in the sidecar's log:\n%s", logs)
	return nil
}

// vmHWM reads the peak resident set size (kB) of a running process.
func vmHWM(tb testing.TB, pid int) int {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			var kb int
			if _, err := fmt.Sscan(f[1], &kb); err == nil {
				return kb
			}
		}
	}
	tb.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
