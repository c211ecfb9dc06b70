package kafka

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// partitionsTTL is how long the producer keeps the topic's partitions before it asks again.
// kafka.Transport answers from its own cache of the cluster (MetadataTTL), so asking is cheap.
const partitionsTTL = time.Second

// producer writes a batch of items with kafka-go's Client.Produce: one request per partition,
// the partitions' requests at once. It replaces kafka-go's Writer, which cost more CPU than
// everything else in a replay to Kafka put together (pprof: a Message and a copy of it per
// event, a slice of partitions built per call, the balancer, and a goroutine handoff per
// partition batch), for batching the exporter's queue already does. Only the sender uses it.
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
}

// send is one partition's request of a batch.
type send struct {
	partition int
	recs      records
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
			p.sends = append(p.sends, send{partition: k, recs: records{items: items, order: p.order[p.starts[k]:p.starts[k+1]]}})
		}
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
		for _, j := range s.recs.order {
			errs[j] = s.err
		}
	}
	if errs != nil {
		return errs
	}
	return nil
}

// produce sends s's records to its partition and records the outcome in s.err.
func (p *producer) produce(ctx context.Context, s *send, parts []int) {
	res, err := p.client.Produce(ctx, &kafkago.ProduceRequest{
		Topic: p.topic, Partition: parts[s.partition], RequiredAcks: p.acks,
		Records: &s.recs, Compression: p.comp,
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

// records is a kafkago.RecordReader over some of a batch's items. It reuses one Record and
// its two byte readers, since kafka-go's encoder is done with a record (it closes its key and
// value) before it reads the next: no allocation per event.
type records struct {
	items      []item
	order      []int32
	i          int
	rec        kafkago.Record
	key, value bytesReader
}

// ReadRecord implements kafkago.RecordReader.
func (r *records) ReadRecord() (*kafkago.Record, error) {
	if r.i == len(r.order) {
		return nil, io.EOF
	}
	it := &r.items[r.order[r.i]]
	r.i++
	r.value.b = it.value
	r.rec = kafkago.Record{Time: it.at, Value: &r.value}
	if it.key != nil {
		r.key.b = it.key
		r.rec.Key = &r.key
	}
	return &r.rec, nil
}

// bytesReader is the kafka-go Bytes of a key or a value.
type bytesReader struct{ b []byte }

func (r *bytesReader) Len() int     { return len(r.b) }
func (r *bytesReader) Close() error { return nil }

func (r *bytesReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// WriteTo lets io.Copy hand the bytes to kafka-go's encoder in one call.
func (r *bytesReader) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(r.b)
	r.b = r.b[n:]
	return int64(n), err
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
