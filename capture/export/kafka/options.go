// Package kafka exports audit events to Kafka with segmentio/kafka-go's Writer.
//
// The chain is: capture pipeline -> Exporter.Emit (encode, truncate, enqueue) -> bounded queue
// -> one sender goroutine -> kafka-go Writer -> broker acks. Emit never waits on the network:
// when the queue is full, the drop policy decides, and every drop is counted per event type and
// reported later in a `type: loss` event.
package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/segmentio/kafka-go/sasl"

	"github.com/audit-io/wire-audit/capture/event"
)

// QueueFull is what Emit does when the queue holds QueueBytes already.
type QueueFull string

const (
	// DropNewest drops the event being emitted, counts it per type, and reports it in a loss
	// event. Capture never waits for Kafka. The default for live capture.
	DropNewest QueueFull = "drop"
	// Block makes Emit wait for room. Used for pcap replay, where nothing may be lost.
	Block QueueFull = "block"
)

// Defaults for the zero values of Options.
const (
	DefaultQueueBytes      = 32 << 20
	DefaultMaxMessageBytes = 1000000 // the broker's default message.max.bytes, less record overhead
	DefaultBatchSize       = 10000
	DefaultBatchBytes      = 4 << 20
	DefaultBatchTimeout    = 2 * time.Millisecond
	DefaultBackoffMin      = 100 * time.Millisecond
	DefaultBackoffMax      = 10 * time.Second
	DefaultStartTimeout    = 2 * time.Minute
	DefaultWriteTimeout    = 10 * time.Second
)

// Options configure an Exporter. Brokers and Topic are required; every zero value below them
// means the documented default.
type Options struct {
	Brokers []string
	Topic   string
	// Compression is none (or empty), gzip, snappy, lz4 or zstd.
	Compression string
	// RequiredAcks is all (the default: audit data), one or none.
	RequiredAcks string
	// QueueBytes bounds the encoded events waiting for Kafka. Default DefaultQueueBytes.
	QueueBytes int
	// QueueFull is the drop policy. Default DropNewest.
	QueueFull QueueFull
	// MaxMessageBytes: a larger event is cut down and marked `export_truncated`, never dropped.
	MaxMessageBytes int
	// BatchSize and BatchBytes bound one batch (one produce request per partition it covers);
	// BatchTimeout is how long the sender waits for a batch to fill while nothing is in flight
	// (the Java producer's linger.ms). Events that arrive while a batch is in flight wait
	// for it anyway, so the timeout stays small.
	BatchSize    int
	BatchBytes   int
	BatchTimeout time.Duration
	// BackoffMin and BackoffMax bound the exponential wait between retries while Kafka fails.
	BackoffMin, BackoffMax time.Duration
	// StartTimeout: Start waits this long for the brokers before it fails.
	StartTimeout time.Duration
	// KeepRetrying keeps the sender trying past StartTimeout instead of failing: the failure
	// goes to OnStartTimeout once, events that do not fit in the queue are dropped and
	// counted, and a loss event reports them once the brokers answer. For a live sidecar, so
	// that an absent or misconfigured Kafka (wrong credentials) never makes it exit and
	// crash-loop; a replay, which must end, leaves it off.
	KeepRetrying bool
	// OnStartTimeout, when set, is called once, from the sender's goroutine, when KeepRetrying
	// carries the sender past StartTimeout.
	OnStartTimeout func(err error)
	// WriteTimeout bounds one produce request.
	WriteTimeout time.Duration
	// TLS and SASL secure the connections; nil means plaintext and no authentication.
	TLS  *tls.Config
	SASL sasl.Mechanism
	// Kubernetes identifies the pod in loss events.
	Kubernetes *event.Kubernetes
	// ClientID is sent to the brokers. Default "wire-audit".
	ClientID string
	// Latency, when set, observes seconds from Emit to the broker's ack of each event.
	Latency Observer
	// OnError, when set, is told of every failed produce attempt (for logs); it must not block.
	// retryIn is 0 for events that are not retried: dropped, and reported in a loss event.
	OnError func(err error, events int, retryIn time.Duration)
}

// Observer receives measurements (prometheus.Histogram satisfies it).
type Observer interface{ Observe(float64) }

func (o *Options) withDefaults() (Options, error) {
	c := *o
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka brokers: at least one host:port is required"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("kafka topic: required"))
	}
	def := func(v *int, d int, name string) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			errs = append(errs, fmt.Errorf("kafka %s %d: must be positive", name, *v))
		}
	}
	def(&c.QueueBytes, DefaultQueueBytes, "queue bytes")
	def(&c.MaxMessageBytes, DefaultMaxMessageBytes, "max message bytes")
	def(&c.BatchSize, DefaultBatchSize, "batch size")
	def(&c.BatchBytes, DefaultBatchBytes, "batch bytes")
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&c.BatchTimeout, DefaultBatchTimeout)
	defd(&c.BackoffMin, DefaultBackoffMin)
	defd(&c.BackoffMax, DefaultBackoffMax)
	defd(&c.StartTimeout, DefaultStartTimeout)
	defd(&c.WriteTimeout, DefaultWriteTimeout)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.MaxMessageBytes < minMessageBytes {
		errs = append(errs, fmt.Errorf("kafka max message bytes %d: must be at least %d", c.MaxMessageBytes, minMessageBytes))
	}
	if c.BatchBytes < c.MaxMessageBytes+recordOverhead {
		c.BatchBytes = c.MaxMessageBytes + recordOverhead
	}
	if c.QueueBytes < c.MaxMessageBytes {
		errs = append(errs, fmt.Errorf("kafka queue bytes %d: must hold at least one message of max message bytes %d", c.QueueBytes, c.MaxMessageBytes))
	}
	switch c.QueueFull {
	case "":
		c.QueueFull = DropNewest
	case DropNewest, Block:
	default:
		errs = append(errs, fmt.Errorf("kafka queue-full policy %q: accepted: drop, block", c.QueueFull))
	}
	if _, err := ParseCompression(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseAcks(c.RequiredAcks); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		c.ClientID = "wire-audit"
	}
	return c, errors.Join(errs...)
}

// ParseCompression maps a codec name to kafka-go's Compression.
func ParseCompression(s string) (kafkago.Compression, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return 0, nil
	case "gzip":
		return kafkago.Gzip, nil
	case "snappy":
		return kafkago.Snappy, nil
	case "lz4":
		return kafkago.Lz4, nil
	case "zstd":
		return kafkago.Zstd, nil
	}
	return 0, fmt.Errorf("kafka compression %q: accepted: none, gzip, snappy, lz4, zstd", s)
}

// ParseAcks maps all|one|none to kafka-go's RequiredAcks; empty means all.
func ParseAcks(s string) (kafkago.RequiredAcks, error) {
	switch strings.ToLower(s) {
	case "", "all", "-1":
		return kafkago.RequireAll, nil
	case "one", "1":
		return kafkago.RequireOne, nil
	case "none", "0":
		return kafkago.RequireNone, nil
	}
	return 0, fmt.Errorf("kafka required acks %q: accepted: all, one, none", s)
}
