package capturebench

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/freeport"
	"github.com/audit-io/wire-audit/test/kafkatest"
)

var (
	mixedPcaps = flag.String("mixed-pcaps", "../../bin/pgsql-load.pcap,../../bin/mysql-load.pcap,../../bin/redis-load.pcap,../../bin/http-load.pcap,../../bin/dns-load.pcap",
		"Comma-separated captures BenchmarkProcess mixes: by default the five protocols of issue 14, with Redis pipelined 16 deep (2 events a packet); make bench also runs redis-rr-load.pcap in place of redis-load.pcap (0.5 events a packet, as issue 14's capture had); the -pcaps list mixes all eight load captures.")
	mixedPerFile = flag.Int("mixed-packets", 132_000, "Frames BenchmarkProcess takes from the start of each -mixed-pcaps capture for its mixed capture.")
	packetbeat   = flag.String("packetbeat", "../../bin/packetbeat", "Packetbeat 7.17.29 for BenchmarkProcess (make bench builds it from test/tools/packetbeat).")
	captureFrom  = flag.String("capture-before", "", "A capture binary of an earlier version: BenchmarkProcess runs it on the same file in the same run and fails unless its output is the same byte for byte.")
	// Before the pipeline closed connections in the order it first saw them, the events and
	// flow records of connections still open at the end of a file came out in map order.
	beforeUnordered = flag.Bool("capture-before-unordered", false, "Accept the same lines in another order from -capture-before (a binary that wrote the end-of-file records in map order).")
)

// runTimes is one child process's wall and CPU (user + system) time.
type runTimes struct{ wall, cpu time.Duration }

// timed runs cmd to completion and returns its wall time and CPU time from its rusage.
func timed(b *testing.B, cmd *exec.Cmd) runTimes {
	b.Helper()
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.Bytes())
	}
	return runTimes{time.Since(start), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
}

// oneCore runs name on CPU 0 with GOMAXPROCS=1 (taskset when the machine has it).
func oneCore(name string, args ...string) *exec.Cmd {
	if _, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{"-c", "0", name}, args...)
		name = "taskset"
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	return cmd
}

// brokerCPUs is where BenchmarkProcess's kfake runs: every core but oneCore's core 0, or any
// core on a machine of one core or without taskset.
func brokerCPUs() string {
	if _, err := exec.LookPath("taskset"); err != nil || runtime.NumCPU() < 2 {
		return ""
	}
	return "1-" + strconv.Itoa(runtime.NumCPU()-1)
}

// mixedCapture writes the first -mixed-packets frames of each -mixed-pcaps capture,
// interleaved, to a file beside them (rewritten when an input is newer) and returns its path
// and frame count. The file's name holds a hash of the inputs' names, so that two mixes of
// different captures never take each other's file for fresh.
func mixedCapture(b *testing.B) (string, int) {
	paths := strings.Split(*mixedPcaps, ",")
	names := sha256.Sum256([]byte(strings.Join(paths, ",")))
	out := filepath.Join(filepath.Dir(paths[0]), fmt.Sprintf("mixed-load-%dx%d-%x.pcap", len(paths), *mixedPerFile, names[:4]))
	fresh := true
	st, err := os.Stat(out)
	for _, p := range paths {
		in, ierr := os.Stat(p)
		if ierr != nil {
			testenv.Missing(b, "%s: %v (make load-pcaps builds it)", p, ierr)
		}
		fresh = fresh && err == nil && !in.ModTime().After(st.ModTime())
	}
	if !fresh {
		if _, err := WriteMixed(out+".tmp", paths, *mixedPerFile); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(out+".tmp", out); err != nil {
			b.Fatal(err)
		}
	}
	frames, _ := loadFrames(b, out)
	return out, len(frames)
}

// output is what a sidecar wrote: its size, line count and a hash of its bytes, and a hash
// of its lines in sorted order.
type output struct {
	bytes, events int64
	sum, sorted   string
}

// captureOutput runs bin on pcap once, writing to a pipe, and returns what it wrote.
func captureOutput(b *testing.B, bin, pcap string) output {
	b.Helper()
	cmd := oneCore(bin, "--pcap", pcap, "--output", "stdout")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var o output
	var lines [][sha256.Size]byte
	var line []byte
	all := sha256.New()
	r := bufio.NewReaderSize(stdout, 1<<20)
	for {
		part, err := r.ReadSlice('\n')
		o.bytes += int64(len(part))
		all.Write(part)
		line = append(line, part...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			break
		}
		lines = append(lines, sha256.Sum256(line))
		line = line[:0]
		o.events++
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("%s: %v\n%s", bin, err, stderr.Bytes())
	}
	o.sum = hex.EncodeToString(all.Sum(nil))
	slices.SortFunc(lines, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, l := range lines {
		h.Write(l[:])
	}
	o.sorted = hex.EncodeToString(h.Sum(nil))
	return o
}

// sameOutput tells whether two runs wrote the same bytes; with -capture-before-unordered,
// the same lines in any order is enough.
func sameOutput(a, b output) bool {
	if *beforeUnordered {
		a.sum, b.sum = "", ""
	}
	return a == b
}

// packetbeatConfig writes a Packetbeat config for the five protocols on the ports the load
// captures use, printing events to the console.
func packetbeatConfig(b *testing.B, dir string) string {
	cfg := `packetbeat.interfaces.device: any
packetbeat.flows:
  enabled: true
packetbeat.protocols:
- type: mysql
  ports: [3306]
- type: pgsql
  ports: [5432]
- type: redis
  ports: [6379]
- type: http
  ports: [80]
- type: dns
  ports: [53]
output.console:
  enabled: true
logging.level: warning
logging.to_stderr: true
`
	path := filepath.Join(dir, "packetbeat.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// median of ds (the upper one of an even count).
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkProcess replays a mixed capture of real MySQL, PostgreSQL, Redis, HTTP and DNS load
// through the whole sidecar process on one core (GOMAXPROCS=1, taskset) as a user runs it:
// `capture --pcap FILE --output stdout > /dev/null`, decode to encoded JSON written out. Each
// iteration runs the sidecar, then tshark (fields output) and Packetbeat 7.17.29 (console
// output) on the same file, then the sidecar with --output kafka to a kfake process; medians
// of wall and CPU time are reported, with the ratios measured in the same run, and the lowest
// Kafka events per CPU-second of any iteration. With -capture-before, an earlier binary's
// output must be the same byte for byte, and its figures are reported beside.
func BenchmarkProcess(b *testing.B) {
	pcap, pkts := mixedCapture(b)
	bin := buildCapture(b)
	for _, tool := range []string{"tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(b, "%s is not installed", tool)
		}
	}
	pb, err := filepath.Abs(*packetbeat)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(pb); err != nil {
		testenv.Missing(b, "%s: %v (make bench builds it)", pb, err)
	}
	out := captureOutput(b, bin, pcap)
	if *captureFrom != "" {
		if before := captureOutput(b, *captureFrom, pcap); !sameOutput(out, before) {
			b.Fatalf("output differs from %s: %d bytes, %d events, sha256 %s (sorted lines %s); before: %d bytes, %d events, sha256 %s (sorted lines %s)",
				*captureFrom, out.bytes, out.events, out.sum, out.sorted, before.bytes, before.events, before.sum, before.sorted)
		}
	}
	dir := b.TempDir()
	pbConfig := packetbeatConfig(b, dir)
	kfake := kafkatest.BuildProcess(b)

	var ours, before, tshark, beat, kafka []runTimes
	minKafka := 0.0
	b.ResetTimer()
	for i := range b.N {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		cmd := oneCore(bin, "--pcap", pcap, "--output", "stdout")
		cmd.Stdout = devnull
		ours = append(ours, timed(b, cmd))
		if *captureFrom != "" {
			cmd := oneCore(*captureFrom, "--pcap", pcap, "--output", "stdout")
			cmd.Stdout = devnull
			before = append(before, timed(b, cmd))
		}
		cmd = oneCore("tshark", "-n", "-r", pcap, "-T", "fields", "-e", "mysql.query", "-e", "pgsql.query",
			"-e", "resp.bulk_string.value", "-e", "http.request.uri", "-e", "dns.qry.name")
		cmd.Stdout = devnull
		tshark = append(tshark, timed(b, cmd))
		cmd = oneCore(pb, "-c", pbConfig, "--path.data", filepath.Join(dir, "pbdata"), "--path.logs", dir,
			"--strict.perms=false", "-I", pcap, "-t", "-E", "packetbeat.shutdown_timeout=1s")
		cmd.Stdout = devnull
		beat = append(beat, timed(b, cmd))
		_ = devnull.Close()

		// A fresh broker per run, so that earlier runs' records do not weigh on this one, on
		// the other core (oneCore holds the sidecar to core 0), as a broker elsewhere would be.
		port := freeport.Test(b)
		broker := kafkatest.StartProcessOn(b, brokerCPUs(), kfake, port, "")
		cmd = oneCore(bin, "--pcap", pcap, "--output", "kafka", "--kafka-brokers", broker.Addr, "--kafka-topic", kafkatest.Topic)
		k := timed(b, cmd)
		broker.Kill()
		kafka = append(kafka, k)
		if rate := float64(out.events) / k.cpu.Seconds(); i == 0 || rate < minKafka {
			minKafka = rate
		}
	}
	b.StopTimer()

	wall, cpu := median(collect(ours, false)), median(collect(ours, true))
	b.ReportMetric(float64(pkts)/wall.Seconds(), "pkts/s")
	b.ReportMetric(float64(pkts)/cpu.Seconds(), "cpu-pkts/s")
	b.ReportMetric(float64(out.events)/wall.Seconds(), "events/s")
	b.ReportMetric(float64(out.bytes)/wall.Seconds(), "bytes/s")
	b.ReportMetric(float64(pkts), "pkts/file")
	b.ReportMetric(float64(out.events), "events/file")
	b.ReportMetric(float64(out.bytes), "bytes/file")
	for _, peer := range []struct {
		name  string
		times []runTimes
	}{{"tshark", tshark}, {"packetbeat", beat}, {"before", before}} {
		if len(peer.times) == 0 {
			continue
		}
		pw, pc := median(collect(peer.times, false)), median(collect(peer.times, true))
		b.ReportMetric(float64(pkts)/pw.Seconds(), peer.name+"-pkts/s")
		b.ReportMetric(pw.Seconds()/wall.Seconds(), "x-"+peer.name)
		b.ReportMetric(pc.Seconds()/cpu.Seconds(), "x-"+peer.name+"-cpu")
	}
	b.ReportMetric(float64(out.events)/median(collect(kafka, true)).Seconds(), "kafka-events/cpu-s")
	b.ReportMetric(minKafka, "kafka-min-events/cpu-s")
	// One line a tool: the testing package cuts a benchmark's log after ten lines, and it logs
	// the first round (b.N == 1) and the last.
	var lines []string
	for _, t := range []struct {
		name string
		ts   []runTimes
	}{{"sidecar", ours}, {"tshark", tshark}, {"packetbeat", beat}, {"kafka", kafka}, {"before", before}} {
		if len(t.ts) > 0 {
			lines = append(lines, summary(t.name, t.ts))
		}
	}
	b.Log(strings.Join(lines, "\n"))
}

func collect(ts []runTimes, cpu bool) []time.Duration {
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.wall
		if cpu {
			out[i] = t.cpu
		}
	}
	return out
}

// summary lists each run's wall/CPU seconds, so that a noisy run shows in the log.
func summary(name string, ts []runTimes) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = strconv.FormatFloat(t.wall.Seconds(), 'f', 2, 64) + "/" + strconv.FormatFloat(t.cpu.Seconds(), 'f', 2, 64)
	}
	return name + " wall/cpu s: " + strings.Join(parts, " ")
}
