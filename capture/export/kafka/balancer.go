package kafka

import (
	"bytes"
	"slices"
	"sync"

	kafkago "github.com/segmentio/kafka-go"
)

// lastKeyBalancer is kafka-go's Murmur2Balancer, the Java client's partitioner, with a memory
// of the last key: consecutive events of a connection share their key (the community_id), and
// murmur2 over it, byte by byte, was 3.6% of the CPU of a replay to Kafka. The partition is
// the same function of the key and the number of partitions as Murmur2Balancer's.
type lastKeyBalancer struct {
	mu   sync.Mutex
	m    kafkago.Murmur2Balancer
	key  []byte // the last key, a copy
	n    int    // how many partitions it was balanced over
	idx  int    // at which of them it landed
	seen bool
}

// Balance implements kafkago.Balancer.
func (l *lastKeyBalancer) Balance(msg kafkago.Message, partitions ...int) int {
	if msg.Key == nil {
		return l.m.Balance(msg, partitions...) // no key: spread, not hashed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen && l.n == len(partitions) && bytes.Equal(l.key, msg.Key) {
		return partitions[l.idx]
	}
	p := l.m.Balance(msg, partitions...)
	l.key, l.n, l.idx, l.seen = append(l.key[:0], msg.Key...), len(partitions), slices.Index(partitions, p), true
	return p
}
