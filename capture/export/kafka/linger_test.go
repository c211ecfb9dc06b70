package kafka_test

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/audit-io/wire-audit/capture/export/kafka"
	"github.com/audit-io/wire-audit/test/kafkatest"
)

// produceLog records, for each produce request the broker gets, the number of records of each
// record batch in it.
type produceLog struct {
	mu      sync.Mutex
	batches []int32
}

func (l *produceLog) watch(req kmsg.Request) {
	p, ok := req.(*kmsg.ProduceRequest)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range p.Topics {
		for _, pt := range t.Partitions {
			if len(pt.Records) >= 61 { // v2 batch header: numRecords at byte 57
				l.batches = append(l.batches, int32(binary.BigEndian.Uint32(pt.Records[57:61])))
			}
		}
	}
}

// watchProduce logs the produce requests c gets, which it goes on to handle as usual.
func watchProduce(c *kfake.Cluster) *produceLog {
	log := &produceLog{}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		log.watch(req)
		return nil, nil, false
	})
	return log
}

// TestLingerFillsBatch: with BatchTimeout, events that trickle in while nothing is in flight
// wait for each other and go in one record batch, as with the Java producer's linger.ms; the
// record's timestamp is when Emit queued the event.
func TestLingerFillsBatch(t *testing.T) {
	c := kafkatest.Start(t)
	log := watchProduce(c)
	e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), BatchTimeout: 2 * time.Second})
	before := time.Now()
	e.Emit(mkEvent(0, 0))
	for i := 1; i < 10; i++ {
		time.Sleep(20 * time.Millisecond)
		e.Emit(mkEvent(0, i))
	}
	after := time.Now()
	if err := closeExporter(t, e, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	batches := append([]int32(nil), log.batches...)
	log.mu.Unlock()
	if len(batches) != 1 || batches[0] != 10 {
		t.Errorf("record batches %v, want one of 10 records", batches)
	}
	recs := kafkatest.Consume(t, c.ListenAddrs(), 10, 20*time.Second)
	checkOrdered(t, recs, 1, 10)
	for _, r := range recs {
		if r.Timestamp.Before(before.Truncate(time.Millisecond)) || r.Timestamp.After(after) {
			t.Errorf("record timestamp %v, not within the Emit calls (%v to %v)", r.Timestamp, before, after)
		}
	}
}

// TestNoLingerSendsAtOnce: a lone event is sent without waiting for a batch to fill when
// BatchTimeout is short, and the queue's first event is not held back by later ones.
func TestNoLingerSendsAtOnce(t *testing.T) {
	c := kafkatest.Start(t)
	log := watchProduce(c)
	e := newExporter(t, kafka.Options{Brokers: c.ListenAddrs(), BatchTimeout: time.Millisecond})
	e.Emit(mkEvent(0, 0))
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().Acked.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e.Stats().Acked.Load() != 1 {
		t.Fatal("a lone event was not acknowledged within 10 s")
	}
	e.Emit(mkEvent(0, 1))
	if err := closeExporter(t, e, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.batches) != 2 || log.batches[0] != 1 || log.batches[1] != 1 {
		t.Errorf("record batches %v, want two of one record", log.batches)
	}
}
