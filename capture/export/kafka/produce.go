package kafka

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// partitionsTTL is how long the producer keeps the topic's partitions before it asks again.
// kafka.Transport answers from its own cache of the cluster (MetadataTTL), so asking is cheap.
const partitionsTTL = time.Second

// producer writes a batch of items as one record batch per partition (appendRecordBatch),
// with kafka-go's Client.RawProduce, the partitions' requests at once. It replaces kafka-go's
// Writer, whose work per event (pprof of a replay to Kafka: a Message and a copy of it, the
// topic's partitions built per call, a balancer call, a slice of Messages grown per partition
// batch, each record's fields written one by one into the compressor, and the collector's work
// on all of it) bought batching that the exporter's queue already does. Only the sender uses
// it. It keeps its buffers for the next batch: one for records before compression (up to
// BatchBytes) and each partition's compressed batch.
type producer struct {
	client *kafkago.Client
	topic  string
	acks   kafkago.RequiredAcks
	comp   kafkago.Compression

	parts   []int // the topic's partition IDs, sorted
	partsAt time.Time
	next    int // where unkeyed items go: a batch's unkeyed items share one partition, in turn

	// Reused from batch to batch.
	order  []int32 // indices of the batch's items, grouped by partition, in queue order
	starts []int   // order[starts[p]:starts[p+1]] are partition p's
	sends  []send
	raw    []byte      // a partition's records before compression
	lz     *lz4Scratch // for lz4, made once
}

// send is one partition's request of a batch.
type send struct {
	partition int
	order     []int32 // indices of the partition's items, in queue order
	buf       []byte  // the record batch, reused
	rd        bytes.Reader
	err       error
}

// partitions returns the topic's partition IDs, asking the brokers at most once per
// partitionsTTL.
func (p *producer) partitions(ctx context.Context) ([]int, error) {
	if p.parts != nil && time.Since(p.partsAt) < partitionsTTL {
		return p.parts, nil
	}
	md, err := p.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{p.topic}})
	if err != nil {
		return nil, err
	}
	for _, t := range md.Topics {
		if t.Name != p.topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %q: %w", p.topic, t.Error)
		}
		if len(t.Partitions) == 0 {
			break
		}
		p.parts = p.parts[:0]
		for _, pt := range t.Partitions {
			p.parts = append(p.parts, pt.ID)
		}
		slices.Sort(p.parts)
		p.partsAt = time.Now()
		return p.parts, nil
	}
	return nil, fmt.Errorf("topic %q: %w", p.topic, kafkago.UnknownTopicOrPartition)
}

// write produces items and waits for the brokers' answers. It returns nil when every item is
// acknowledged, and otherwise kafkago.WriteErrors with one entry per item (nil for those
// acknowledged), or an error that applies to all of them.
func (p *producer) write(ctx context.Context, items []item) error {
	parts, err := p.partitions(ctx)
	if err != nil {
		return err
	}
	n := len(parts)
	// Group the items by partition, keeping queue order within each: a counting sort.
	p.starts = slices.Grow(p.starts[:0], n+1)[:n+1]
	clear(p.starts)
	unkeyed := p.next % n
	p.next++
	for i := range items {
		p.starts[items[i].partition(unkeyed, n)+1]++
	}
	for i := 1; i <= n; i++ {
		p.starts[i] += p.starts[i-1]
	}
	p.order = slices.Grow(p.order[:0], len(items))[:len(items)]
	fill := slices.Clone(p.starts[:n]) // n ints, once per batch
	for i := range items {
		k := items[i].partition(unkeyed, n)
		p.order[fill[k]] = int32(i)
		fill[k]++
	}
	p.sends = p.sends[:0]
	for k := range n {
		if p.starts[k] < p.starts[k+1] {
			// Keep the buffer of the send this slot had before.
			if len(p.sends) < cap(p.sends) {
				p.sends = p.sends[:len(p.sends)+1]
			} else {
				p.sends = append(p.sends, send{})
			}
			s := &p.sends[len(p.sends)-1]
			s.partition, s.order, s.err = k, p.order[p.starts[k]:p.starts[k+1]], nil
		}
	}
	// Encode the batches one after the other, so that one buffer of records before compression
	// serves them all, rather than one per partition each kept at up to BatchBytes.
	if p.lz == nil && p.comp == kafkago.Lz4 {
		p.lz = new(lz4Scratch)
	}
	for i := range p.sends {
		s := &p.sends[i]
		s.buf, p.raw, s.err = appendRecordBatch(s.buf[:0], p.raw[:0], items, s.order, p.comp, p.lz)
	}
	if len(p.sends) == 1 {
		p.produce(ctx, &p.sends[0], parts)
	} else {
		var wg sync.WaitGroup
		for i := range p.sends {
			wg.Go(func() { p.produce(ctx, &p.sends[i], parts) })
		}
		wg.Wait()
	}
	var errs kafkago.WriteErrors
	for i := range p.sends {
		s := &p.sends[i]
		if s.err == nil {
			continue
		}
		if errs == nil {
			errs = make(kafkago.WriteErrors, len(items))
		}
		for _, j := range s.order {
			errs[j] = s.err
		}
	}
	if errs != nil {
		return errs
	}
	return nil
}

// produce sends s's record batch to its partition and records the outcome in s.err.
func (p *producer) produce(ctx context.Context, s *send, parts []int) {
	if s.err != nil { // it could not be encoded
		return
	}
	s.rd.Reset(s.buf)
	res, err := p.client.RawProduce(ctx, &kafkago.RawProduceRequest{
		Topic: p.topic, Partition: parts[s.partition], RequiredAcks: p.acks,
		RawRecords: protocol.RawRecordSet{Reader: &s.rd},
	})
	switch {
	case err != nil:
		s.err = err
	case res != nil && res.Error != nil: // res is nil with acks=none
		s.err = fmt.Errorf("partition %d: %w", parts[s.partition], res.Error)
	}
}

// partition is the index, among n partitions, of the one it goes to: the Java client's
// murmur2 of its key, as other producers keyed by community_id place the same connection,
// or unkeyed for an item without a key.
func (it *item) partition(unkeyed, n int) int {
	if it.key == nil {
		return unkeyed
	}
	return int((it.hash & 0x7fffffff) % uint32(n))
}

// murmur2 is the Java client's partitioning hash (Utils.murmur2), which kafka-go's
// Murmur2Balancer implements too but does not export. TestMurmur2 checks the two agree.
func murmur2(data []byte) uint32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	h := seed ^ uint32(len(data))
	for len(data) >= 4 {
		k := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
