package capturebench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/decode"
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/export"
	"github.com/audit-io/wire-audit/capture/pipeline"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/source"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/realnet"
)

var pcaps = flag.String("pcaps", "../../bin/pgsql-load.pcap,../../bin/mysql-load.pcap,../../bin/redis-load.pcap,../../bin/http-load.pcap,../../bin/dns-load.pcap,../../bin/grpc-load.pcap,../../bin/tls-load.pcap,../../bin/mongodb-load.pcap",
	"Comma-separated captures of real load to replay (make bench builds them with pgbench, mysqlslap, redis-benchmark, curl, lookups against dnsmasq, grpc-go unary calls, curl over HTTPS and Go-driver inserts and finds against FerretDB).")

// loadFrames reads a whole capture into memory, so that the benchmark measures decoding and
// not the disk.
func loadFrames(tb testing.TB, path string) ([]Frame, layers.LinkType) {
	tb.Helper()
	src, err := source.OpenFile(path)
	if err != nil {
		tb.Skipf("%s: %v (make bench builds it)", path, err)
	}
	defer src.Close()
	var frames []Frame
	for {
		data, ci, err := src.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		frames = append(frames, Frame{Data: append([]byte(nil), data...), TS: ci.Timestamp})
	}
	return frames, src.LinkType()
}

// countSink counts events by type and drops them.
type countSink struct{ n [4]int }

func (c *countSink) Emit(ev *event.Event) {
	switch ev.Type {
	case event.TypeMySQL:
		c.n[0]++
	case event.TypePgSQL:
		c.n[1]++
	case event.TypeFlow:
		c.n[2]++
	default:
		c.n[3]++
	}
}

// defaultProtocols are the parsers on their default ports; the gRPC load capture has HTTP on
// its gRPC port too (realnet.GRPCPort), as a pod would configure it.
func defaultProtocols(tb testing.TB, path string) []pipeline.Protocol {
	var out []pipeline.Protocol
	for _, p := range config.Default().Protocols {
		ports := p.Ports
		if p.Name == config.HTTP && strings.Contains(filepath.Base(path), "grpc") {
			ports = append(slices.Clone(ports), realnet.GRPCPort)
		}
		if pr, ok := pipeline.Builtin(p.Name, ports); ok {
			out = append(out, pr)
		}
	}
	if len(out) == 0 {
		tb.Fatal("no parsers registered")
	}
	return out
}

func replayOnce(tb testing.TB, protos []pipeline.Protocol, frames []Frame, link layers.LinkType, sink protocols.Sink) *pipeline.Pipeline {
	p, err := pipeline.New(pipeline.Options{Protocols: protos, Sink: sink, Flows: true})
	if err != nil {
		tb.Fatal(err)
	}
	d, err := decode.New(link)
	if err != nil {
		tb.Fatal(err)
	}
	var pkt decode.Packet
	var last time.Time
	for _, f := range frames {
		p.Frame(d, f.Data, f.TS, &pkt)
		last = f.TS
	}
	p.Close(last)
	return p
}

// tsharkTimes is how long tshark takes to dissect the file down to the statements on one
// core, in wall time and in CPU time, measured once per file.
type tsharkTimes struct{ wall, cpu time.Duration }

var tsharkTime sync.Map // path -> tsharkTimes

// tshark measures tshark on path. On a shared machine the wall time swings with the other
// load; the CPU time (user + system, from the child's rusage) much less, so both are reported.
func tshark(b *testing.B, path string) tsharkTimes {
	if v, ok := tsharkTime.Load(path); ok {
		return v.(tsharkTimes)
	}
	if _, err := exec.LookPath("tshark"); err != nil {
		testenv.Missing(b, "tshark is not installed")
	}
	field := "pgsql.query"
	switch base := filepath.Base(path); {
	case strings.Contains(base, "mysql"):
		field = "mysql.query"
	case strings.Contains(base, "dns"):
		field = "dns.qry.name"
	case strings.Contains(base, "redis"):
		field = "resp.bulk_string.value"
	case strings.Contains(base, "http"):
		field = "http.request.uri"
	case strings.Contains(base, "grpc"):
		field = "http2.headers.path" // tshark's grpc dissector runs under it on every message
	case strings.Contains(base, "tls"):
		field = "tls.handshake.extensions_server_name"
	}
	args := []string{"taskset", "-c", "0", "tshark", "-n", "-r", path, "-T", "fields", "-e", field}
	if strings.Contains(filepath.Base(path), "grpc") {
		args = append(args, "-d", fmt.Sprintf("tcp.port==%d,http2", realnet.GRPCPort))
	}
	if strings.Contains(filepath.Base(path), "mongodb") {
		args[len(args)-1] = "mongo.element.name"
		args = append(args, "-d", "tcp.port==27017,mongo")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		args = args[3:]
	}
	start := time.Now()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	t := tsharkTimes{wall: time.Since(start), cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	tsharkTime.Store(path, t)
	return t
}

// processCPU is the CPU time this process has used so far, over all its threads.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReplay decodes captures of real database load (pgbench, mysqlslap) through the
// whole pipeline — decode, reassembly, parsing into events — on one core, and compares with
// tshark dissecting the same file on one core.
func BenchmarkReplay(b *testing.B) {
	for _, path := range strings.Split(*pcaps, ",") {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		frames, link := loadFrames(b, path)
		for _, mode := range []string{"events", "events+json"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
				var sink protocols.Sink = &countSink{}
				if mode == "events+json" {
					sink = export.NewJSONLines(io.Discard)
				}
				var ms0, ms1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				b.ResetTimer()
				cpu0 := processCPU(b)
				var p *pipeline.Pipeline
				protos := defaultProtocols(b, path)
				for range b.N {
					p = replayOnce(b, protos, frames, link, sink)
				}
				cpu := processCPU(b) - cpu0
				b.StopTimer()
				runtime.ReadMemStats(&ms1)
				pkts := float64(len(frames)) * float64(b.N)
				secs := b.Elapsed().Seconds()
				ours := pkts / secs
				b.ReportMetric(ours, "pkts/s")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/pkts, "allocs/pkt")
				txns := float64(p.Stats().Events.Load() - p.Stats().Flows.Load())
				b.ReportMetric(txns, "transactions")
				b.ReportMetric(txns*float64(b.N)/secs, "txns/s")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/(txns*float64(b.N)), "allocs/txn")
				b.ReportMetric(float64(len(frames)), "pkts/file")
				oursCPU := pkts / cpu.Seconds()
				b.ReportMetric(oursCPU, "cpu-pkts/s")
				t := tshark(b, path)
				theirs := float64(len(frames)) / t.wall.Seconds()
				b.ReportMetric(theirs, "tshark-pkts/s")
				b.ReportMetric(ours/theirs, "x-tshark")
				b.ReportMetric(oursCPU/(float64(len(frames))/t.cpu.Seconds()), "x-tshark-cpu")
			})
		}
	}
}
