package kafka_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/export/kafka"
	"github.com/audit-io/wire-audit/test/freeport"
	"github.com/audit-io/wire-audit/test/kafkatest"
)

// benchEvent is a typical MySQL audit event of about 800 bytes of JSON.
func benchEvent(conn int) *event.Event {
	ev := mkEvent(conn, 0)
	ev.Query = "SELECT id, owner, balance FROM accounts WHERE owner = ? AND balance > ? ORDER BY id LIMIT 100"
	ev.QueryFingerprint = "5f1d7a0c9b2e4f61"
	ev.Method = "SELECT"
	ev.Server = event.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 3306, Bytes: 4096}
	ev.MySQL = &event.MySQL{NumRows: 100, NumFields: 3}
	ev.DB = &event.DB{Name: "shop"}
	ev.User = &event.User{Name: "orders"}
	ev.Kubernetes = &event.Kubernetes{Namespace: "shop", Pod: event.Pod{Name: "orders-7d9f-x2x", UID: "5f0c1e7a-1111-2222-3333-444455556666"},
		Node: event.Node{Name: "node-a"}, Labels: map[string]string{"app": "orders", "team": "payments"}}
	return ev
}

// benchBroker is kfake in its own process, so this process's CPU time is the client's alone.
func benchBroker(b *testing.B) string {
	b.Helper()
	p := kafkatest.StartProcess(b, kafkatest.BuildProcess(b), freeport.Test(b), "")
	return p.Addr
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchCompression = "lz4" // the sidecar's default

// BenchmarkThroughput sends b.N events through the exporter (JSON encoding, queue, keyed
// batches, acks=all) and, in the same run, the same number of pre-encoded messages through a
// bare kafka-go Writer with the same settings, in batches of 10k: the best kafka-go does.
// The exporter's figures include JSON encoding; encode-cpu-ns/event is that part alone.
// Run it with a fixed count: go test -run '^$' -bench Throughput -benchtime 300000x.
func BenchmarkThroughput(b *testing.B) {
	broker := benchBroker(b)
	const conns = 1024
	evs := make([]*event.Event, conns)
	msgs := make([]kafkago.Message, conns)
	var bytes int64
	for i := range evs {
		evs[i] = benchEvent(i)
		v, _ := json.Marshal(evs[i])
		msgs[i] = kafkago.Message{Key: []byte(evs[i].Network.CommunityID), Value: v}
		bytes += int64(len(v))
	}
	avg := float64(bytes) / conns

	// Baseline: a bare Writer fed batches directly.
	w := &kafkago.Writer{Addr: kafkago.TCP(broker), Topic: kafkatest.Topic, Balancer: &kafkago.Murmur2Balancer{},
		BatchSize: 1000, BatchBytes: kafka.DefaultBatchBytes, BatchTimeout: kafka.DefaultBatchTimeout,
		RequiredAcks: kafkago.RequireAll, Compression: kafkago.Lz4}
	batch := make([]kafkago.Message, 0, kafka.DefaultBatchSize)
	runtime.GC()
	bareStart, bareCPU := time.Now(), cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; {
		batch = batch[:0]
		for ; i < b.N && len(batch) < cap(batch); i++ {
			batch = append(batch, msgs[i%conns])
		}
		if err := w.WriteMessages(context.Background(), batch...); err != nil {
			b.Fatal(err)
		}
	}
	bareWall, bareCPUUsed := time.Since(bareStart), cpuTime()-bareCPU
	_ = w.Close()

	// The JSON encoding alone, which --output stdout pays as well.
	runtime.GC() // each phase pays for its own garbage only
	encStart := cpuTime()
	for i := range b.N {
		kafka.Encode(evs[i%conns])
	}
	encCPU := cpuTime() - encStart

	e, err := kafka.New(kafka.Options{Brokers: []string{broker}, Topic: kafkatest.Topic, Compression: benchCompression, QueueFull: kafka.Block})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	start, cpu := time.Now(), cpuTime()
	for i := range b.N {
		e.Emit(evs[i%conns])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		b.Fatal(err)
	}
	wall, cpuUsed := time.Since(start), cpuTime()-cpu
	b.StopTimer()
	if got := e.Stats().Acked.Load(); got != uint64(b.N) {
		b.Fatalf("acked %d of %d", got, b.N)
	}
	n := float64(b.N)
	b.ReportMetric(n/wall.Seconds(), "events/s")
	b.ReportMetric(n*avg/wall.Seconds()/1e6, "MB/s")
	b.ReportMetric(n/cpuUsed.Seconds(), "events/cpu-s")
	b.ReportMetric(n/bareWall.Seconds(), "bare-events/s")
	b.ReportMetric(n/bareCPUUsed.Seconds(), "bare-events/cpu-s")
	b.ReportMetric(cpuUsed.Seconds()/bareCPUUsed.Seconds(), "cpu-overhead-x")
	b.ReportMetric(float64(encCPU.Nanoseconds())/n, "encode-cpu-ns/event")
	b.ReportMetric((cpuUsed-encCPU).Seconds()/bareCPUUsed.Seconds(), "cpu-overhead-excl-encoding-x")
	b.ReportMetric(wall.Seconds()/bareWall.Seconds(), "wall-overhead-x")
	b.ReportMetric(avg, "bytes/event")
}

type latencies struct {
	mu sync.Mutex
	s  []float64
}

func (l *latencies) Observe(v float64) {
	l.mu.Lock()
	l.s = append(l.s, v)
	l.mu.Unlock()
}

// BenchmarkLatency emits events at 10k/s for b.N events and reports the enqueue-to-ack
// latency percentiles. Run it with go test -run '^$' -bench Latency -benchtime 30000x (3 s).
func BenchmarkLatency(b *testing.B) {
	broker := benchBroker(b)
	lat := &latencies{}
	e, err := kafka.New(kafka.Options{Brokers: []string{broker}, Topic: kafkatest.Topic, Compression: benchCompression, Latency: lat})
	if err != nil {
		b.Fatal(err)
	}
	evs := make([]*event.Event, 64)
	for i := range evs {
		evs[i] = benchEvent(i)
	}
	// Wait for the connection so the first events do not measure the dial.
	e.Emit(evs[0])
	for e.Stats().Acked.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	lat.s = lat.s[:0]
	const perTick, tick = 10, time.Millisecond // 10k events/s
	b.ResetTimer()
	t := time.NewTicker(tick)
	for i := 0; i < b.N; {
		<-t.C
		for j := 0; j < perTick && i < b.N; j, i = j+1, i+1 {
			e.Emit(evs[i%len(evs)])
		}
	}
	t.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	lat.mu.Lock()
	defer lat.mu.Unlock()
	if len(lat.s) != b.N {
		b.Fatalf("%d latencies for %d events", len(lat.s), b.N)
	}
	slices.Sort(lat.s)
	pct := func(p float64) float64 { return lat.s[int(p*float64(len(lat.s)-1))] * 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
