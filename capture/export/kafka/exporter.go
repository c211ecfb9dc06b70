package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/audit-io/wire-audit/capture/event"
)

// Stats are the exporter's counters; every field is safe to read at any time.
type Stats struct {
	// Emitted counts events handed to Emit; Acked those the brokers acknowledged.
	Emitted, Acked atomic.Uint64
	// Dropped counts events lost (queue full, or unacknowledged at shutdown).
	Dropped atomic.Uint64
	// Truncated counts events cut down to MaxMessageBytes.
	Truncated atomic.Uint64
	// KafkaErrors counts failed produce or connect attempts; LossEvents the loss reports sent.
	KafkaErrors, LossEvents atomic.Uint64
	// QueueBytes and QueueEvents are what waits for an ack right now (in flight included).
	QueueBytes, QueueEvents atomic.Int64
}

// Exporter is a protocols.Sink that ships events to Kafka. Emit may be called from several
// goroutines (one per capture interface) and never blocks on the network unless the policy is
// Block. One sender goroutine, started by New, writes batches in queue order and retries
// failures, so events of one key reach their partition in order.
type Exporter struct {
	o         Options
	p         producer
	transport *kafkago.Transport

	mu     sync.Mutex
	more   *sync.Cond // the sender waits on it for events (or a fuller batch)
	room   *sync.Cond // Emit waits on it for room in the queue (Block)
	q      queue
	arena  arena // holds the queued messages
	bytes  int
	closed bool
	// finished is set by the sender when it stops; nothing queued after that would be sent.
	finished bool
	lost     losses // drops not reported yet
	// dropped accumulates every drop by type since start, for metrics.
	dropped map[string]uint64
	// lastKey and lastHash are the key of the last event queued and its murmur2: a
	// connection's events come in runs, and hashing byte by byte was 3.6% of a replay's CPU.
	lastKey  []byte
	lastHash uint32

	stats   Stats
	ctx     context.Context // the sender's; cancelled when Close gives up
	cancel  context.CancelFunc
	done    chan struct{}
	runErr  error
	started time.Time
}

// New checks opts and starts the sender. The brokers need not be reachable yet: the sender
// retries until StartTimeout, after which Err reports the failure (or, with KeepRetrying, it
// keeps trying).
func New(opts Options) (*Exporter, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	comp, _ := ParseCompression(o.Compression)
	acks, _ := ParseAcks(o.RequiredAcks)
	e := &Exporter{o: o, dropped: map[string]uint64{}, done: make(chan struct{}), started: time.Now()}
	e.more, e.room = sync.NewCond(&e.mu), sync.NewCond(&e.mu)
	e.transport = transport(&o)
	e.p = producer{
		client: &kafkago.Client{Addr: kafkago.TCP(o.Brokers...), Transport: e.transport, Timeout: o.WriteTimeout},
		topic:  o.Topic, acks: acks, comp: comp,
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.run()
	return e, nil
}

func transport(o *Options) *kafkago.Transport {
	return &kafkago.Transport{
		DialTimeout: 5 * time.Second,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 10 * time.Second,
		ClientID:    o.ClientID,
		TLS:         o.TLS,
		SASL:        o.SASL,
	}
}

// Stats returns the live counters.
func (e *Exporter) Stats() *Stats { return &e.stats }

// DroppedByType returns how many events of each type were dropped since start.
func (e *Exporter) DroppedByType() map[string]uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.dropped)
}

// Done is closed when the sender stops: after Close, or when the brokers stayed unreachable
// past StartTimeout without KeepRetrying. Err then says why.
func (e *Exporter) Done() <-chan struct{} { return e.done }

// Err is the sender's failure, once Done is closed.
func (e *Exporter) Err() error {
	select {
	case <-e.done:
		return e.runErr
	default:
		return nil
	}
}

// Emit encodes ev and queues it. An event larger than MaxMessageBytes is cut down and marked;
// when the queue is full the event is dropped and counted (DropNewest) or Emit waits (Block).
// ev is released (event.Release) once encoded.
func (e *Exporter) Emit(ev *event.Event) {
	e.stats.Emitted.Add(1)
	s := scratches.Get().(*scratch)
	defer scratches.Put(s)
	b, key := s.message(ev), ev.Network.CommunityID // the key: a connection's events stay in order
	if len(b) > e.o.MaxMessageBytes {
		e.stats.Truncated.Add(1)
		b = truncate(ev, len(b), e.o.MaxMessageBytes)
	}
	typ := ev.Type
	event.Release(ev) // b and key hold all of it now
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	size := len(b) + len(key)
	for !e.closed && !e.finished && e.bytes > 0 && e.bytes+size > e.o.QueueBytes {
		if e.o.QueueFull != Block {
			e.dropLocked(typ, reasonQueueFull, now)
			return
		}
		e.room.Wait()
	}
	if e.closed || e.finished {
		e.dropLocked(typ, reasonShutdown, now)
		return
	}
	// Value and key share one piece of a chunk, copied out of the scratch buffer.
	msg, c := e.arena.alloc(size)
	copy(msg[copy(msg, b):], key)
	it := item{value: msg[:len(b):len(b)], key: msg[len(b):], typ: typ, at: now, chunk: c}
	if len(key) == 0 {
		it.key = nil // no key: the producer spreads such events over the partitions
	} else {
		if string(e.lastKey) != key {
			e.lastKey, e.lastHash = append(e.lastKey[:0], key...), murmur2(it.key)
		}
		it.hash = e.lastHash
	}
	e.q.push(it)
	e.bytes += size
	e.stats.QueueBytes.Store(int64(e.bytes))
	e.stats.QueueEvents.Add(1)
	// Wake the sender only when it has something new to do: the first event of an empty
	// queue, or a batch that is now full; while it lingers, every other event would wake it
	// for nothing.
	if e.q.len() == 1 || e.batchReadyLocked() {
		e.more.Signal()
	}
}

func (e *Exporter) dropLocked(typ, reason string, now time.Time) {
	e.lost.add(typ, reason, 1, now)
	e.dropped[typ]++
	e.stats.Dropped.Add(1)
}

// Close stops accepting events and waits until every queued event is acknowledged, or ctx
// ends. Events still unacknowledged then are counted as lost, and Close says how many.
func (e *Exporter) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	e.more.Broadcast()
	e.room.Broadcast()
	e.mu.Unlock()
	select {
	case <-e.done:
	case <-ctx.Done():
		e.cancel()
		<-e.done
	}
	e.cancel()
	e.transport.CloseIdleConnections()
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	if e.runErr != nil {
		errs = append(errs, e.runErr)
	}
	if e.lost.total > 0 {
		errs = append(errs, fmt.Errorf("kafka: %d events lost (%v), not reported in a loss event", e.lost.total, e.lost.byType))
	}
	return errors.Join(errs...)
}

// run is the sender: connect, then write batches in queue order until closed and drained.
func (e *Exporter) run() {
	defer close(e.done)
	err := e.connect()
	if err == nil {
		err = e.send()
	}
	e.mu.Lock()
	e.runErr = err
	e.finished = true
	// Whatever is still queued will never be sent.
	var rest []item
	rest = e.q.take(rest, e.q.len(), int(^uint(0)>>1))
	now := time.Now()
	for _, it := range rest {
		e.dropLocked(it.typ, reasonShutdown, now)
	}
	e.bytes = 0
	e.stats.QueueBytes.Store(0)
	e.stats.QueueEvents.Store(0)
	e.room.Broadcast()
	e.mu.Unlock()
}

// connect waits for the brokers to answer a metadata request for the topic, with backoff.
// Past StartTimeout it fails, or, with KeepRetrying, reports the failure once through
// OnStartTimeout and goes on trying until the brokers answer or Close.
func (e *Exporter) connect() error {
	client := e.p.client
	backoff := e.o.BackoffMin
	pastDeadline := false
	var cause error // the last error not caused by the start deadline itself: it says why
	for {
		ctx, cancel := e.ctx, context.CancelFunc(func() {})
		if !pastDeadline {
			ctx, cancel = context.WithDeadline(e.ctx, e.started.Add(e.o.StartTimeout))
		}
		err := probe(ctx, client, e.o.Topic)
		if err == nil {
			cancel()
			return nil
		}
		if ctx.Err() == nil || cause == nil {
			cause = err
		}
		e.stats.KafkaErrors.Add(1)
		if e.o.OnError != nil {
			e.o.OnError(err, 0, backoff)
		}
		slept := sleep(ctx, backoff)
		cancel()
		if slept {
			backoff = min(2*backoff, e.o.BackoffMax)
			continue
		}
		if e.ctx.Err() != nil {
			return fmt.Errorf("kafka: closed before the brokers %v answered: %w", e.o.Brokers, err)
		}
		failure := fmt.Errorf("kafka: brokers %v not usable within %v%s: %w", e.o.Brokers, e.o.StartTimeout, e.authHint(cause), cause)
		if !e.o.KeepRetrying {
			return failure
		}
		pastDeadline = true
		if e.o.OnStartTimeout != nil {
			e.o.OnStartTimeout(failure)
		}
	}
}

// authHint explains an error that most likely comes from failed authentication.
func (e *Exporter) authHint(err error) string {
	if e.o.SASL == nil {
		return ""
	}
	switch {
	case errors.Is(err, kafkago.SASLAuthenticationFailed):
		return fmt.Sprintf(" (SASL %s authentication failed: check the credentials)", e.o.SASL.Name())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Sprintf(" (with SASL %s: the broker closed the connection, as brokers do when authentication fails: check the credentials)", e.o.SASL.Name())
	}
	return fmt.Sprintf(" (with SASL %s)", e.o.SASL.Name())
}

func probe(ctx context.Context, c *kafkago.Client, topic string) error {
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	for _, t := range md.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return fmt.Errorf("topic %q: %w", topic, t.Error)
			}
			return nil
		}
	}
	return fmt.Errorf("topic %q: %w", topic, kafkago.UnknownTopicOrPartition)
}

// sleep waits d or until ctx ends; it reports whether the full wait happened.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (e *Exporter) send() error {
	var batch []item
	for {
		e.mu.Lock()
		for e.q.len() == 0 && !e.closed {
			e.more.Wait()
		}
		if e.q.len() == 0 { // closed and drained
			e.mu.Unlock()
			return e.reportLoss()
		}
		e.lingerLocked()
		batch = e.q.take(batch[:0], e.o.BatchSize, e.o.BatchBytes)
		e.mu.Unlock()
		if rest, err := e.deliver(batch); err != nil {
			e.putBack(rest)
			return err
		}
		if err := e.reportLoss(); err != nil {
			return err
		}
	}
}

// lingerLocked waits, up to BatchTimeout, for the queue to fill a batch, as the Java producer's
// linger.ms does: events that trickle in would otherwise cost a request each. e.mu is held.
func (e *Exporter) lingerLocked() {
	if e.o.BatchTimeout <= 0 || e.batchReadyLocked() {
		return
	}
	over := false
	t := time.AfterFunc(e.o.BatchTimeout, func() {
		e.mu.Lock()
		over = true
		e.more.Broadcast()
		e.mu.Unlock()
	})
	for !over && !e.closed && !e.batchReadyLocked() {
		e.more.Wait()
	}
	t.Stop()
}

// batchReadyLocked says whether the queue holds a full batch, or enough that Emit may soon
// have to wait or drop (a queue smaller than a batch).
func (e *Exporter) batchReadyLocked() bool {
	return e.q.len() >= e.o.BatchSize || e.bytes >= e.o.BatchBytes || 2*e.bytes >= e.o.QueueBytes
}

// putBack returns unsent items to the front of the queue so run counts them as lost.
func (e *Exporter) putBack(items []item) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rest := e.q.take(nil, e.q.len(), int(^uint(0)>>1))
	e.q = queue{}
	for _, it := range append(items, rest...) {
		e.q.push(it)
	}
}

// deliver writes items until every one is acknowledged, retrying failed ones with backoff. It
// fails only when the sender's context ends (Close gave up), and then returns the items that
// were not acknowledged.
func (e *Exporter) deliver(items []item) ([]item, error) {
	backoff := e.o.BackoffMin
	for len(items) > 0 {
		err := e.p.write(e.ctx, items)
		var werrs kafkago.WriteErrors
		failed := items[:0]
		acked := items
		if err != nil {
			if !errors.As(err, &werrs) || len(werrs) != len(items) {
				acked = nil
				failed = items
			} else {
				acked = make([]item, 0, len(items))
				for i := range items {
					if werrs[i] == nil {
						acked = append(acked, items[i])
					} else {
						failed = append(failed, items[i])
					}
				}
			}
		}
		e.ack(acked)
		if err == nil {
			return nil, nil
		}
		items = failed
		e.stats.KafkaErrors.Add(1)
		if tooLarge(err) {
			// The broker refused a record batch larger than its message.max.bytes, which a
			// batch of BatchBytes reaches uncompressed (--kafka-compression none) or with
			// data that does not compress. Retrying the same batch would fail forever:
			// send it in halves instead, down to single events.
			if len(items) == 1 {
				e.dropTooLarge(items[0], err)
				return nil, nil
			}
			half := len(items) / 2
			if rest, err := e.deliver(items[:half]); err != nil {
				return append(rest, items[half:]...), err
			}
			items = items[half:]
			continue
		}
		if e.o.OnError != nil {
			e.o.OnError(err, len(items), backoff)
		}
		if !sleep(e.ctx, backoff) {
			return items, fmt.Errorf("kafka: %d events unacknowledged when the flush deadline passed: %w", len(items), err)
		}
		backoff = min(2*backoff, e.o.BackoffMax)
	}
	return nil, nil
}

// tooLarge tells whether err is the broker's refusal of a record batch over its size limit,
// for every event of a write.
func tooLarge(err error) bool {
	var werrs kafkago.WriteErrors
	if !errors.As(err, &werrs) {
		return errors.Is(err, kafkago.MessageSizeTooLarge)
	}
	for _, w := range werrs {
		if w != nil && !errors.Is(w, kafkago.MessageSizeTooLarge) {
			return false
		}
	}
	return true
}

// dropTooLarge counts an event that the broker refuses even alone, its one batch being over
// the topic's max.message.bytes: a limit below MaxMessageBytes. It cannot ever be delivered,
// so it is reported in a loss event instead of retried.
func (e *Exporter) dropTooLarge(it item, err error) {
	if e.o.OnError != nil {
		e.o.OnError(fmt.Errorf("kafka: a %d-byte event was refused alone, so it is dropped and reported in a loss event (lower --kafka-max-message-bytes below the topic's max.message.bytes): %w", len(it.value), err), 1, 0)
	}
	e.mu.Lock()
	e.dropLocked(it.typ, reasonTooLarge, time.Now())
	e.releaseLocked([]item{it})
	e.mu.Unlock()
}

func (e *Exporter) ack(items []item) {
	if len(items) == 0 {
		return
	}
	now := time.Now()
	for i := range items {
		if e.o.Latency != nil {
			e.o.Latency.Observe(now.Sub(items[i].at).Seconds())
		}
	}
	e.stats.Acked.Add(uint64(len(items)))
	e.mu.Lock()
	e.releaseLocked(items)
	e.mu.Unlock()
}

// releaseLocked takes items, which kafka-go is done with, out of the queue's accounting.
func (e *Exporter) releaseLocked(items []item) {
	for i := range items {
		e.arena.release(items[i].chunk)
		e.bytes -= items[i].size()
	}
	e.stats.QueueBytes.Store(int64(e.bytes))
	e.stats.QueueEvents.Add(-int64(len(items)))
	e.room.Broadcast()
}

// reportLoss sends one loss event for the drops since the last report. Kafka has just
// acknowledged a batch, so it is reachable; the report is retried like any batch.
func (e *Exporter) reportLoss() error {
	e.mu.Lock()
	if e.lost.total == 0 || e.lost.reason == reasonShutdown {
		e.mu.Unlock()
		return nil
	}
	l := e.lost
	e.lost = losses{}
	e.mu.Unlock()
	it := item{value: encode(l.event(e.o.Kubernetes, time.Now())), typ: event.TypeLoss, at: time.Now()}
	e.mu.Lock()
	e.bytes += it.size() // ack subtracts it again
	e.stats.QueueEvents.Add(1)
	e.mu.Unlock()
	if _, err := e.deliver([]item{it}); err != nil {
		e.mu.Lock()
		for typ, n := range l.byType {
			e.lost.add(typ, l.reason, n, l.first)
		}
		e.bytes -= it.size()
		e.stats.QueueEvents.Add(-1)
		e.mu.Unlock()
		return err
	}
	e.stats.LossEvents.Add(1)
	return nil
}
