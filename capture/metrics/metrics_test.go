package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	kafkaexport "github.com/audit-io/wire-audit/capture/export/kafka"
	"github.com/audit-io/wire-audit/capture/metrics"
	"github.com/audit-io/wire-audit/capture/pipeline"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/source"
)

func TestMetrics(t *testing.T) {
	m := metrics.New()
	var s pipeline.Stats
	s.Packets.Store(1234)
	s.Gaps.Store(3)
	m.AddInterface("eth0", &s, func() source.KernelStats { return source.KernelStats{Packets: 1300, Drops: 66} })

	// An exporter whose broker never answers: a full queue drops, and the drops show by type.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	exp, err := kafkaexport.New(kafkaexport.Options{Brokers: []string{addr}, Topic: "t", QueueBytes: 1024, MaxMessageBytes: 1024, BackoffMin: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = exp.Close(ctx)
	}()
	m.AddExporter(exp)

	var got []string
	sink := m.Sink(protocols.SinkFunc(func(ev *event.Event) { got = append(got, ev.Type); exp.Emit(ev) }))
	for i := range 20 {
		typ := event.TypeMySQL
		if i%4 == 0 {
			typ = event.TypeFlow
		}
		sink.Emit(&event.Event{Type: typ, Query: fmt.Sprintf("SELECT %d -- padding padding padding padding padding padding padding", i)})
	}
	if len(got) != 20 {
		t.Fatalf("sink passed on %d of 20 events", len(got))
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	dropped := exp.DroppedByType()
	for _, want := range []string{
		`wire_audit_packets_captured_total{interface="eth0"} 1234`,
		`wire_audit_kernel_drops_total{interface="eth0"} 66`,
		`wire_audit_reassembly_gaps_total{interface="eth0"} 3`,
		`wire_audit_events_total{type="mysql"} 15`,
		`wire_audit_events_total{type="flow"} 5`,
		fmt.Sprintf(`wire_audit_export_dropped_total{type="mysql"} %d`, dropped[event.TypeMySQL]),
		fmt.Sprintf(`wire_audit_export_queue_events %d`, exp.Stats().QueueEvents.Load()),
		`wire_audit_export_acked_total 0`,
		`wire_audit_export_latency_seconds_count 0`,
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(body) {
			t.Errorf("no line %q in /metrics", want)
		}
	}
	if dropped[event.TypeMySQL] == 0 {
		t.Error("no drops: the check of the dropped metric proves nothing")
	}
}
