package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/export/kafka"
	"github.com/audit-io/wire-audit/test/freeport"
	"github.com/audit-io/wire-audit/test/kafkatest"
)

// mkEvent is event seq of connection conn: the query carries both, so order can be checked.
func mkEvent(conn, seq int) *event.Event {
	return &event.Event{
		Timestamp: time.Unix(1700000000, int64(seq)).UTC(),
		Type:      event.TypeMySQL,
		Status:    event.StatusOK,
		Query:     fmt.Sprintf("SELECT %d /* conn %d */", seq, conn),
		Event:     event.Meta{Kind: "event", Duration: 1000},
		Client:    event.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: uint16(40000 + conn)},
		Network:   event.Network{Type: "ipv4", Transport: "tcp", CommunityID: fmt.Sprintf("1:conn-%03d=", conn)},
	}
}

type seqOf struct{ conn, seq int }

func parse(t *testing.T, r *kgo.Record) (event.Event, seqOf) {
	t.Helper()
	var ev event.Event
	if err := json.Unmarshal(r.Value, &ev); err != nil {
		t.Fatalf("record %s: %v", kafkatest.String(r), err)
	}
	var s seqOf
	if ev.Type == event.TypeMySQL {
		if _, err := fmt.Sscanf(ev.Query, "SELECT %d /* conn %d */", &s.seq, &s.conn); err != nil {
			t.Fatalf("record %s: %v", kafkatest.String(r), err)
		}
	}
	return ev, s
}

func newExporter(t *testing.T, o kafka.Options) *kafka.Exporter {
	t.Helper()
	if o.Topic == "" {
		o.Topic = kafkatest.Topic
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = 200 * time.Millisecond
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = 20 * time.Millisecond
	}
	e, err := kafka.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func closeExporter(t *testing.T, e *kafka.Exporter, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return e.Close(ctx)
}

// checkOrdered checks that every connection's events arrived complete, in order, on one
// partition, keyed by its community_id.
func checkOrdered(t *testing.T, recs []*kgo.Record, conns, perConn int) {
	t.Helper()
	next := map[int]int{}
	part := map[int]int32{}
	for _, r := range recs {
		ev, s := parse(t, r)
		if ev.Type != event.TypeMySQL {
			continue
		}
		if string(r.Key) != ev.Network.CommunityID {
			t.Fatalf("key %q, community_id %q", r.Key, ev.Network.CommunityID)
		}
		if p, ok := part[s.conn]; ok && p != r.Partition {
			t.Fatalf("conn %d on partitions %d and %d", s.conn, p, r.Partition)
		}
		part[s.conn] = r.Partition
		// at-least-once: a retried batch may repeat events, never reorder them.
		if s.seq > next[s.conn] {
			t.Fatalf("conn %d: got seq %d, want %d (%s)", s.conn, s.seq, next[s.conn], kafkatest.String(r))
		}
		if s.seq == next[s.conn] {
			next[s.conn]++
		}
	}
	for c := range conns {
		if next[c] != perConn {
			t.Errorf("conn %d: %d of %d events delivered", c, next[c], perConn)
		}
	}
	parts := map[int32]bool{}
	for _, p := range part {
		parts[p] = true
	}
	if conns >= 8 && len(parts) < 2 {
		t.Errorf("%d connections all on one partition: keys are not spread", conns)
	}
}

func TestDeliverKeyedInOrder(t *testing.T) {
	for _, comp := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			c := kafkatest.Start(t)
			e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), Compression: comp})
			const conns, perConn = 16, 200
			for i := range perConn {
				for c := range conns {
					e.Emit(mkEvent(c, i))
				}
			}
			if err := closeExporter(t, e, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			if got := e.Stats().Acked.Load(); got != conns*perConn {
				t.Fatalf("acked %d, want %d", got, conns*perConn)
			}
			recs := kafkatest.Consume(t, c.ListenAddrs(), conns*perConn, 20*time.Second)
			if len(recs) != conns*perConn {
				t.Fatalf("consumed %d records, want %d", len(recs), conns*perConn)
			}
			checkOrdered(t, recs, conns, perConn)
		})
	}
}

func TestOversizedEventIsTruncatedNotDropped(t *testing.T) {
	c := kafkatest.Start(t)
	e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), MaxMessageBytes: 4096})
	big := mkEvent(1, 0)
	big.Query = "SELECT '" + strings.Repeat("x", 100000) + "'"
	labels := mkEvent(2, 0)
	labels.Kubernetes = &event.Kubernetes{Namespace: "ns", Labels: map[string]string{"huge": strings.Repeat("y", 10000)}}
	e.Emit(big)
	e.Emit(labels)
	e.Emit(mkEvent(3, 0))
	if err := closeExporter(t, e, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := e.Stats().Truncated.Load(); got != 2 {
		t.Fatalf("truncated %d, want 2", got)
	}
	recs := kafkatest.Consume(t, c.ListenAddrs(), 3, 20*time.Second)
	if len(recs) != 3 {
		t.Fatalf("consumed %d records, want 3", len(recs))
	}
	for _, r := range recs {
		if len(r.Value) > 4096 {
			t.Errorf("record of %d bytes over the 4096 limit", len(r.Value))
		}
		var ev event.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		switch ev.Network.CommunityID {
		case "1:conn-001=":
			if ev.ExportTruncated == nil || ev.ExportTruncated.OriginalBytes < 100000 || !ev.QueryTruncated || !strings.HasPrefix(ev.Query, "SELECT 'xxx") {
				t.Errorf("big query: marker %+v, query_truncated %v, query %.20q", ev.ExportTruncated, ev.QueryTruncated, ev.Query)
			}
		case "1:conn-002=":
			if ev.ExportTruncated == nil || ev.Kubernetes == nil || ev.Kubernetes.Namespace != "ns" || ev.Kubernetes.Labels != nil {
				t.Errorf("huge labels: marker %+v, kubernetes %+v", ev.ExportTruncated, ev.Kubernetes)
			}
		default:
			if ev.ExportTruncated != nil {
				t.Errorf("small event marked truncated: %+v", ev.ExportTruncated)
			}
		}
	}
}

func TestBrokerDownAtStartThenUp(t *testing.T) {
	port := freeport.Test(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	e := newExporter(t, kafka.Options{Brokers: []string{addr}, StartTimeout: 30 * time.Second})
	const conns, perConn = 4, 50
	for i := range perConn {
		for c := range conns {
			e.Emit(mkEvent(c, i))
		}
	}
	time.Sleep(300 * time.Millisecond) // several failed connects with backoff
	if e.Stats().KafkaErrors.Load() == 0 {
		t.Fatal("no connect error counted while the broker was down")
	}
	c := kafkatest.Start(t, kfakePort(port))
	if err := closeExporter(t, e, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	recs := kafkatest.Consume(t, c.ListenAddrs(), conns*perConn, 20*time.Second)
	if len(recs) != conns*perConn {
		t.Fatalf("consumed %d records, want %d", len(recs), conns*perConn)
	}
	checkOrdered(t, recs, conns, perConn)
}

func TestUnreachableBrokersFailAfterStartTimeout(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freeport.Test(t))
	e := newExporter(t, kafka.Options{Brokers: []string{addr}, StartTimeout: 500 * time.Millisecond})
	e.Emit(mkEvent(1, 0))
	select {
	case <-e.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("exporter still waiting long after StartTimeout")
	}
	err := e.Err()
	if err == nil || !strings.Contains(err.Error(), "not usable within 500ms") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want one naming the brokers and the deadline", err)
	}
	if got := e.Stats().Dropped.Load(); got != 1 {
		t.Fatalf("dropped %d, want the 1 queued event counted", got)
	}
	if cerr := closeExporter(t, e, time.Second); cerr == nil {
		t.Fatal("Close reported success although nothing was delivered")
	}
}

// TestKeepRetryingPastStartTimeout is the live sidecar's case: the brokers stay away past the
// start timeout, the exporter says so once and keeps trying, and what was queued is delivered
// when a broker comes up.
func TestKeepRetryingPastStartTimeout(t *testing.T) {
	port := freeport.Test(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	reported := make(chan error, 4)
	e := newExporter(t, kafka.Options{Brokers: []string{addr}, StartTimeout: 300 * time.Millisecond,
		KeepRetrying: true, OnStartTimeout: func(err error) { reported <- err }})
	const n = 20
	for i := range n {
		e.Emit(mkEvent(0, i))
	}
	select {
	case err := <-reported:
		if !strings.Contains(err.Error(), "not usable within 300ms") || !strings.Contains(err.Error(), addr) {
			t.Fatalf("reported %v, want the brokers and the deadline named", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the start timeout was never reported")
	}
	time.Sleep(500 * time.Millisecond) // well past the deadline
	select {
	case <-e.Done():
		t.Fatalf("the sender stopped past the start timeout: %v", e.Err())
	default:
	}
	c := kafkatest.Start(t, kfakePort(port))
	if err := closeExporter(t, e, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if recs := kafkatest.Consume(t, c.ListenAddrs(), n, 20*time.Second); len(recs) != n {
		t.Fatalf("consumed %d records, want the %d queued before the broker came up", len(recs), n)
	}
	if len(reported) != 0 {
		t.Fatalf("the start timeout was reported %d more times, want once", len(reported))
	}
}

// A batch over the broker's message.max.bytes, as BatchBytes of uncompressed JSON is, is sent
// in halves instead of retried forever; an event the broker refuses even alone is reported
// lost, and the events after it still go.
func TestBatchOverBrokerLimitIsSplit(t *testing.T) {
	const limit = 64 << 10
	c := kafkatest.Start(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(limit)}))
	var refused atomic.Int64
	e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), Compression: "none", QueueFull: kafka.Block,
		OnError: func(err error, _ int, _ time.Duration) {
			if strings.Contains(err.Error(), "refused alone") {
				refused.Add(1)
			}
		}})
	const conns, perConn = 4, 500 // about 300 KB a connection: several times the limit
	for i := range perConn {
		for conn := range conns {
			ev := mkEvent(conn, i)
			ev.Query += " /* " + strings.Repeat("p", 100) + " */"
			e.Emit(ev)
		}
	}
	huge := mkEvent(conns, 0)
	huge.Query = "SELECT '" + strings.Repeat("x", 2*limit) + "'" // under MaxMessageBytes, over the broker's limit
	e.Emit(huge)
	e.Emit(mkEvent(conns+1, 0))
	if err := closeExporter(t, e, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := e.Stats().Acked.Load(), uint64(conns*perConn+2); got != want { // the loss event is acked too
		t.Fatalf("acked %d, want %d", got, want)
	}
	if refused.Load() != 1 || e.DroppedByType()[event.TypeMySQL] != 1 {
		t.Fatalf("refused alone %d times, dropped %v; want the one huge event", refused.Load(), e.DroppedByType())
	}
	recs := kafkatest.Consume(t, c.ListenAddrs(), conns*perConn+2, 20*time.Second)
	var loss *event.Event
	var rest []*kgo.Record
	for _, r := range recs {
		var ev event.Event
		if err := json.Unmarshal(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Type == event.TypeLoss:
			loss = &ev
		case ev.Network.CommunityID == fmt.Sprintf("1:conn-%03d=", conns+1):
		default:
			rest = append(rest, r)
		}
	}
	if loss == nil || loss.Loss.Total != 1 || loss.Loss.Reason != "message_too_large" {
		t.Fatalf("loss event %+v, want one event lost as message_too_large", loss)
	}
	checkOrdered(t, rest, conns, perConn)
}
