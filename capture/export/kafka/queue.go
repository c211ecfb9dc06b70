package kafka

import (
	"maps"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
)

// item is one encoded event waiting for its ack.
type item struct {
	key, value []byte
	typ        string
	at         time.Time // when Emit queued it, for the enqueue-to-ack latency
	chunk      *chunk    // what holds key and value (arena), nil for an allocation of their own
	hash       uint32    // murmur2 of key, which places it on a partition
}

func (it *item) size() int { return len(it.key) + len(it.value) }

// queue is a FIFO of items in a ring that grows by doubling and never shrinks: a full queue that
// drains and refills allocates nothing. A slice appended at its end and cut at its head
// allocated a third of the exporter's bytes in a replay (32 MB a run). It is not safe for
// concurrent use; Exporter.mu guards it.
type queue struct {
	ring []item // its length is 0 or a power of two
	head int    // the oldest item
	n    int
}

func (q *queue) len() int { return q.n }

func (q *queue) push(it item) {
	if q.n == len(q.ring) {
		ring := make([]item, max(64, 2*len(q.ring)))
		for i := range q.n {
			ring[i] = q.ring[(q.head+i)&(len(q.ring)-1)]
		}
		q.ring, q.head = ring, 0
	}
	q.ring[(q.head+q.n)&(len(q.ring)-1)] = it
	q.n++
}

// take appends up to n items of at most maxBytes in total (at least one item) to dst and
// removes them from the queue.
func (q *queue) take(dst []item, n, maxBytes int) []item {
	bytes := 0
	for q.n > 0 && n > 0 {
		it := &q.ring[q.head]
		if bytes > 0 && bytes+it.size() > maxBytes {
			break
		}
		bytes += it.size()
		dst = append(dst, *it)
		*it = item{} // the ring must not keep the chunk alive
		q.head = (q.head + 1) & (len(q.ring) - 1)
		q.n--
		n--
	}
	return dst
}

// losses counts dropped events by type over the window from first to last drop.
type losses struct {
	byType      map[string]uint64
	total       uint64
	first, last time.Time
	reason      string
}

func (l *losses) add(typ, reason string, n uint64, now time.Time) {
	if l.byType == nil {
		l.byType = map[string]uint64{}
		l.first = now
	}
	l.byType[typ] += n
	l.total += n
	l.last = now
	if l.reason == "" || reason == reasonShutdown {
		l.reason = reason
	}
}

// Reasons of a loss event.
const (
	reasonQueueFull = "queue_full"
	reasonShutdown  = "shutdown"
	// The broker refused the event even alone: over the topic's max.message.bytes.
	reasonTooLarge = "message_too_large"
)

// event builds the `type: loss` report of l.
func (l *losses) event(k *event.Kubernetes, now time.Time) *event.Event {
	return &event.Event{
		Timestamp: now,
		Type:      event.TypeLoss,
		Event: event.Meta{
			Kind: "metric", Category: "network", Dataset: event.TypeLoss,
			Start: l.first, End: l.last, Duration: int64(l.last.Sub(l.first)),
		},
		Loss:       &event.Loss{Events: maps.Clone(l.byType), Total: l.total, Reason: l.reason},
		Kubernetes: k,
	}
}
