package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
)

// ConsumeOptions say what Consume reads. It uses no consumer group, so it commits nothing and
// disturbs no other consumer.
type ConsumeOptions struct {
	Brokers []string
	Topic   string
	TLS     *tls.Config
	SASL    sasl.Mechanism
	// FromStart reads each partition from its first offset; otherwise only new records.
	FromStart bool
	// ExitAtEnd stops once every partition is read up to the end it had when Consume started.
	ExitAtEnd bool
}

// Record is one consumed message.
type Record struct {
	Partition  int
	Offset     int64
	Key, Value []byte
}

// Consume calls fn for every record of the topic until ctx ends (nil is returned then), fn
// fails, or, with ExitAtEnd, the partitions are read to their end. Records of one partition
// come in order; partitions interleave.
func Consume(ctx context.Context, o ConsumeOptions, fn func(Record) error) error {
	if len(o.Brokers) == 0 || o.Topic == "" {
		return errors.New("kafka consume: brokers and topic are required")
	}
	tr := transport(&Options{ClientID: "wire-audit-events", TLS: o.TLS, SASL: o.SASL})
	client := &kafkago.Client{Addr: kafkago.TCP(o.Brokers...), Transport: tr, Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{o.Topic}})
	if err != nil {
		return fmt.Errorf("kafka consume: metadata of %q: %w", o.Topic, err)
	}
	var reqs []kafkago.OffsetRequest
	for _, t := range md.Topics {
		if t.Name != o.Topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("kafka consume: topic %q: %w", o.Topic, t.Error)
		}
		for _, p := range t.Partitions {
			reqs = append(reqs, kafkago.OffsetRequest{Partition: p.ID, Timestamp: kafkago.FirstOffset}, kafkago.OffsetRequest{Partition: p.ID, Timestamp: kafkago.LastOffset})
		}
	}
	if len(reqs) == 0 {
		return fmt.Errorf("kafka consume: topic %q: %w", o.Topic, kafkago.UnknownTopicOrPartition)
	}
	offs, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{o.Topic: reqs}})
	if err != nil {
		return fmt.Errorf("kafka consume: offsets of %q: %w", o.Topic, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan Record, 256)
	errc := make(chan error, len(offs.Topics[o.Topic]))
	var wg sync.WaitGroup
	dialer := &kafkago.Dialer{Timeout: 10 * time.Second, TLS: o.TLS, SASLMechanism: o.SASL, ClientID: "wire-audit-events"}
	for _, po := range offs.Topics[o.Topic] {
		if po.Error != nil {
			return fmt.Errorf("kafka consume: partition %d: %w", po.Partition, po.Error)
		}
		start, end := po.LastOffset, po.LastOffset
		if o.FromStart {
			start = po.FirstOffset
		}
		if o.ExitAtEnd && start >= end {
			continue
		}
		wg.Go(func() {
			r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: o.Brokers, Topic: o.Topic, Partition: po.Partition,
				Dialer: dialer, MaxWait: 250 * time.Millisecond})
			defer r.Close()
			if err := r.SetOffset(start); err != nil {
				errc <- err
				return
			}
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("kafka consume: partition %d: %w", po.Partition, err)
					}
					return
				}
				select {
				case recs <- Record{Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value}:
				case <-ctx.Done():
					return
				}
				if o.ExitAtEnd && m.Offset >= end-1 {
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(recs) }()
	for {
		select {
		case r, ok := <-recs:
			if !ok {
				select {
				case err := <-errc:
					return err
				default:
					return nil
				}
			}
			if err := fn(r); err != nil {
				return err
			}
		case err := <-errc:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}
