package kafka_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/export/kafka"
	"github.com/audit-io/wire-audit/test/freeport"
	"github.com/audit-io/wire-audit/test/kafkatest"
)

// waitAcked waits until the exporter has n acks, or fails the test after timeout.
func waitAcked(t *testing.T, e *kafka.Exporter, n uint64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for e.Stats().Acked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("acked %d of %d after %v", e.Stats().Acked.Load(), n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBrokerKilledMidStream kills the broker process (SIGKILL) while events flow, keeps
// emitting past the queue bound, and restarts it: every event is either delivered or counted
// in exactly one loss event, and the loss event's counts equal the exporter's drops.
func TestBrokerKilledMidStream(t *testing.T) {
	bin := kafkatest.BuildProcess(t)
	port := freeport.Test(t)
	p := kafkatest.StartProcess(t, bin, port, t.TempDir())
	const queueBytes = 16 << 10
	e := newExporter(t, kafka.Options{Brokers: []string{p.Addr}, QueueBytes: queueBytes, MaxMessageBytes: 2048,
		OnError: func(err error, n int, d time.Duration) { t.Logf("kafka error (%d events, retry in %v): %v", n, d, err) }})
	const conns = 8
	seq := 0
	emit := func(rounds int, paced bool) {
		for range rounds {
			for c := range conns {
				e.Emit(mkEvent(c, seq))
			}
			seq++
			if paced { // stay within the queue bound while the broker is up
				waitAcked(t, e, uint64(conns*seq)-e.Stats().Dropped.Load(), 20*time.Second)
			}
		}
	}
	emit(50, true)
	if d := e.Stats().Dropped.Load(); d != 0 {
		t.Fatalf("%d dropped while the broker was up and the queue had room", d)
	}

	p.Kill()
	emit(200, false) // far more than 16 KiB of events: most are dropped
	dropped := e.Stats().Dropped.Load()
	if dropped == 0 {
		t.Fatal("nothing dropped although the queue bound was exceeded while the broker was dead")
	}
	if q := e.Stats().QueueBytes.Load(); q > queueBytes {
		t.Fatalf("queue holds %d bytes, over its bound %d", q, queueBytes)
	}
	p.Restart(t)
	waitAcked(t, e, uint64(conns*seq)-dropped, 20*time.Second) // the queue drains
	emit(10, true)
	total := uint64(conns * seq)
	if err := closeExporter(t, e, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().Dropped.Load(); got != dropped {
		t.Fatalf("dropped %d after restart, %d before: drops after recovery", got, dropped)
	}
	if e.Stats().LossEvents.Load() != 1 {
		t.Fatalf("%d loss events, want 1", e.Stats().LossEvents.Load())
	}

	recs := kafkatest.Consume(t, []string{p.Addr}, int(total-dropped)+1, 20*time.Second)
	seen := map[seqOf]bool{}
	var loss *event.Event
	for _, r := range recs {
		ev, s := parse(t, r)
		if ev.Type == event.TypeLoss {
			if loss != nil {
				t.Fatal("two loss events")
			}
			loss = &ev
			continue
		}
		seen[s] = true
	}
	if loss == nil {
		t.Fatal("no loss event delivered")
	}
	if loss.Loss.Total != dropped || loss.Loss.Events[event.TypeMySQL] != dropped || loss.Loss.Reason != "queue_full" {
		t.Fatalf("loss event %+v, want %d mysql events lost to queue_full", loss.Loss, dropped)
	}
	if loss.Event.Start.IsZero() || loss.Event.End.Before(loss.Event.Start) {
		t.Fatalf("loss window %v - %v", loss.Event.Start, loss.Event.End)
	}
	if uint64(len(seen))+dropped != total {
		t.Fatalf("%d distinct events delivered + %d lost = %d, want %d emitted", len(seen), dropped, uint64(len(seen))+dropped, total)
	}
	// Everything from before the kill and after the restart arrived: loss only hit the outage.
	for c := range conns {
		for _, s := range []int{0, 49, seq - 1} {
			if !seen[seqOf{c, s}] {
				t.Errorf("conn %d seq %d missing", c, s)
			}
		}
	}
	b, _ := json.Marshal(loss)
	t.Logf("loss event: %s", b)
}

// TestDropsCountedPerType fills the queue while the broker is away with events of three types
// and checks that the loss event counts each type exactly as the exporter dropped them.
func TestDropsCountedPerType(t *testing.T) {
	port := freeport.Test(t)
	c := kafkatest.Start(t, kfakePort(port))
	e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), QueueBytes: 8 << 10, MaxMessageBytes: 2048})
	e.Emit(mkEvent(0, 0))
	waitAcked(t, e, 1, 20*time.Second)
	c.Close()
	types := []string{event.TypeMySQL, event.TypePgSQL, event.TypeFlow}
	for i := range 300 {
		ev := mkEvent(i%7, i+1)
		ev.Type = types[i%len(types)]
		e.Emit(ev)
	}
	byType := e.DroppedByType()
	var sum uint64
	for _, typ := range types {
		if byType[typ] == 0 {
			t.Errorf("no %s drops counted", typ)
		}
		sum += byType[typ]
	}
	if sum != e.Stats().Dropped.Load() {
		t.Fatalf("drops by type add up to %d, total %d", sum, e.Stats().Dropped.Load())
	}
	c2 := kafkatest.Start(t, kfakePort(port))
	if err := closeExporter(t, e, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// kfake in memory lost the first event with the old cluster; the rest is here.
	recs := kafkatest.Consume(t, c2.ListenAddrs(), int(300-sum)+1, 20*time.Second)
	var loss *event.Event
	delivered := map[string]uint64{}
	for _, r := range recs {
		ev, _ := parse(t, r)
		if ev.Type == event.TypeLoss {
			loss = &ev
			continue
		}
		delivered[ev.Type]++
	}
	if loss == nil {
		t.Fatal("no loss event")
	}
	for _, typ := range types {
		if loss.Loss.Events[typ] != byType[typ] {
			t.Errorf("loss event says %d %s lost, exporter dropped %d", loss.Loss.Events[typ], typ, byType[typ])
		}
		if delivered[typ]+byType[typ] != 100 {
			t.Errorf("%s: %d delivered + %d lost, want 100 emitted", typ, delivered[typ], byType[typ])
		}
	}
}

// TestCloseWhileBrokerDown is SIGTERM during an outage: Close gives up at its deadline, and
// says how many events were never acknowledged.
func TestCloseWhileBrokerDown(t *testing.T) {
	c := kafkatest.Start(t)
	e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs()})
	e.Emit(mkEvent(0, 0))
	waitAcked(t, e, 1, 20*time.Second)
	c.Close()
	for i := range 100 {
		e.Emit(mkEvent(1, i))
	}
	start := time.Now()
	err := closeExporter(t, e, 500*time.Millisecond)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Close took %v with a 500ms deadline", took)
	}
	if err == nil || !strings.Contains(err.Error(), "100 events lost") {
		t.Fatalf("Close = %v, want 100 events lost", err)
	}
	if e.Stats().Dropped.Load() != 100 || e.Stats().Acked.Load() != 1 {
		t.Fatalf("dropped %d acked %d", e.Stats().Dropped.Load(), e.Stats().Acked.Load())
	}
}
