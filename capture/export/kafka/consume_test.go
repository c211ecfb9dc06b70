package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/export/kafka"
	"github.com/audit-io/wire-audit/test/kafkatest"
)

// TestConsumeFollows: without FromStart, Consume shows only events produced after it started,
// keeps following, and returns nil when its context ends.
func TestConsumeFollows(t *testing.T) {
	c := kafkatest.Start(t)
	old := newExporter(t, kafka.Options{Brokers: c.ListenAddrs()})
	old.Emit(mkEvent(0, 0))
	if err := closeExporter(t, old, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan kafka.Record, 100)
	done := make(chan error, 1)
	go func() {
		done <- kafka.Consume(ctx, kafka.ConsumeOptions{Brokers: c.ListenAddrs(), Topic: kafkatest.Topic}, func(r kafka.Record) error {
			got <- r
			return nil
		})
	}()
	time.Sleep(500 * time.Millisecond) // Consume has taken the end offsets
	e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs()})
	for i := range 10 {
		e.Emit(mkEvent(1+i%3, i))
	}
	if err := closeExporter(t, e, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		select {
		case r := <-got:
			if _, s := parse(t, r2kgo(r)); s.conn == 0 {
				t.Fatalf("record %d is the old event", i)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of 10 new events seen", i)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Consume = %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return after cancel")
	}
	if len(got) != 0 {
		t.Fatalf("%d extra records", len(got))
	}
}
