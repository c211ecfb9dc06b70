package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go/sasl"

	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/event"
	kafkaexport "github.com/audit-io/wire-audit/capture/export/kafka"
)

// kafkaFlags are the --kafka-* flags. Brokers, topic and the TLS/SASL settings override the
// config file; the rest have no place in the config and are flags only.
type kafkaFlags struct {
	brokers, topic               string
	compression, acks, queueFull string
	queueMiB, maxMessageBytes    int
	batchTimeout, startTimeout   time.Duration
	flushTimeout                 time.Duration
	saslMechanism                string
	saslUserFile, saslPassFile   string
	tlsCA, tlsCert, tlsKey       string
	tlsInsecure                  bool
}

func (k *kafkaFlags) register(fs *flag.FlagSet) {
	k.registerConnection(fs)
	fs.StringVar(&k.compression, "kafka-compression", "lz4", "Batch compression: none, gzip, snappy, lz4 or zstd.")
	fs.StringVar(&k.acks, "kafka-acks", "all", "Acks the brokers give before a batch counts as delivered: all, one or none.")
	fs.IntVar(&k.queueMiB, "kafka-queue-mib", 32, fmt.Sprintf("Bound of the queue of encoded events waiting for Kafka, in MiB. When the queue blocks (--pcap), the default is %d: capture waits for Kafka then, and a longer queue would hold only memory.", blockingQueueMiB))
	fs.StringVar(&k.queueFull, "kafka-queue-full", "", "When the queue is full: drop (count and report in a loss event) or block (wait). Default: drop live, block with --pcap.")
	fs.IntVar(&k.maxMessageBytes, "kafka-max-message-bytes", kafkaexport.DefaultMaxMessageBytes, "Larger events are cut down and marked export_truncated.")
	fs.DurationVar(&k.batchTimeout, "kafka-batch-timeout", kafkaexport.DefaultBatchTimeout, "How long the sender waits for a batch to fill while none is in flight (the Java producer's linger.ms).")
	fs.DurationVar(&k.startTimeout, "kafka-start-timeout", kafkaexport.DefaultStartTimeout, "How long to wait for unreachable brokers at start before reporting them unusable: a --pcap replay then fails, live capture logs an error and keeps retrying.")
	fs.DurationVar(&k.flushTimeout, "kafka-flush-timeout", 20*time.Second, "On exit (SIGTERM, or end of --pcap), how long to wait for every queued event to be acknowledged; keep it under the pod's termination grace period.")
}

// registerConnection adds the flags that say where Kafka is and how to log in; the events
// subcommand shares them.
func (k *kafkaFlags) registerConnection(fs *flag.FlagSet) {
	fs.StringVar(&k.brokers, "kafka-brokers", "", "Comma-separated Kafka brokers host:port (overrides the config).")
	fs.StringVar(&k.topic, "kafka-topic", "", "Kafka topic (overrides the config).")
	fs.StringVar(&k.saslMechanism, "kafka-sasl-mechanism", "", "SASL mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (overrides the config); credentials from $KAFKA_SASL_USERNAME/$KAFKA_SASL_PASSWORD or the files below.")
	fs.StringVar(&k.saslUserFile, "kafka-sasl-username-file", "", "File holding the SASL username (instead of the environment variable).")
	fs.StringVar(&k.saslPassFile, "kafka-sasl-password-file", "", "File holding the SASL password (instead of the environment variable).")
	fs.StringVar(&k.tlsCA, "kafka-tls-ca", "", "PEM CA file that signed the brokers' certificates; turns TLS on (overrides the config).")
	fs.StringVar(&k.tlsCert, "kafka-tls-cert", "", "PEM client certificate file (with --kafka-tls-key).")
	fs.StringVar(&k.tlsKey, "kafka-tls-key", "", "PEM client key file.")
	fs.BoolVar(&k.tlsInsecure, "kafka-tls-insecure-skip-verify", false, "Turn TLS on without verifying the brokers' certificates. Never for production.")
}

// blockingQueueMiB is --kafka-queue-mib's default when the queue blocks. Capture then waits
// for room, so the queue need only hold the batch in flight and the next one (BatchBytes, 4
// MiB, each). A longer one only delays each event's send until it is out of the CPU's cache:
// with 32 MiB, a replay to Kafka took more CPU.
const blockingQueueMiB = 8

// blocks says whether the queue waits for room rather than drop events: by default with --pcap.
func (k *kafkaFlags) blocks(replay bool) bool {
	return k.queueFull == string(kafkaexport.Block) || (k.queueFull == "" && replay)
}

// Names of the environment variables the webhook fills from the SASL Secret, used when the
// mechanism comes from a flag.
const (
	saslUsernameEnv = "KAFKA_SASL_USERNAME"
	saslPasswordEnv = "KAFKA_SASL_PASSWORD"
)

// apply puts the flags that were set over cfg.Kafka.
func (k *kafkaFlags) apply(cfg *config.Kafka, set map[string]bool) {
	if set["kafka-brokers"] {
		cfg.Brokers = nil
		for _, b := range strings.Split(k.brokers, ",") {
			if b = strings.TrimSpace(b); b != "" {
				cfg.Brokers = append(cfg.Brokers, b)
			}
		}
	}
	if set["kafka-topic"] {
		cfg.Topic = k.topic
	}
	if set["kafka-tls-ca"] || set["kafka-tls-cert"] || set["kafka-tls-key"] || set["kafka-tls-insecure-skip-verify"] {
		cfg.TLS = &config.KafkaTLS{CAFile: k.tlsCA, CertFile: k.tlsCert, KeyFile: k.tlsKey, InsecureSkipVerify: k.tlsInsecure}
	}
	if set["kafka-sasl-mechanism"] {
		cfg.SASL = nil
		if k.saslMechanism != "" {
			cfg.SASL = &config.KafkaSASL{Mechanism: k.saslMechanism, UsernameEnv: saslUsernameEnv, PasswordEnv: saslPasswordEnv}
		}
	}
}

// exporterOptions turns the config and flags into exporter options, reading TLS files and the
// SASL credentials (files first, then the environment variables the config names).
func (k *kafkaFlags) exporterOptions(cfg config.Config, replay bool, kube *event.Kubernetes, log *slog.Logger) (kafkaexport.Options, error) {
	o := kafkaexport.Options{
		Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.Topic,
		Compression: k.compression, RequiredAcks: k.acks,
		QueueBytes: k.queueMiB << 20, QueueFull: kafkaexport.QueueFull(k.queueFull),
		MaxMessageBytes: k.maxMessageBytes, BatchTimeout: k.batchTimeout, StartTimeout: k.startTimeout,
		Kubernetes: kube,
		OnError: func(err error, events int, retryIn time.Duration) {
			if retryIn <= 0 {
				log.Error("kafka refused events for good", "err", err, "events", events)
				return
			}
			log.Warn("kafka write failed; retrying", "err", err, "events", events, "retryIn", retryIn)
		},
		// Live, Kafka trouble never stops capture or the sidecar (a crash loop helps nobody):
		// it keeps retrying, drops what the queue cannot hold, counts it and reports it.
		KeepRetrying: !replay,
		OnStartTimeout: func(err error) {
			log.Error("kafka unusable past the start timeout; capture goes on, events that do not fit in the queue are dropped and counted until the brokers answer", "err", err)
		},
	}
	if len(o.Brokers) == 0 {
		return o, errors.New("--output kafka: no brokers: set kafka.brokers in the config or --kafka-brokers")
	}
	if k.queueMiB < 1 {
		return o, fmt.Errorf("--kafka-queue-mib %d: must be at least 1", k.queueMiB)
	}
	if o.QueueFull == "" {
		o.QueueFull = kafkaexport.DropNewest
		if replay {
			o.QueueFull = kafkaexport.Block
		}
	}
	var err error
	o.TLS, o.SASL, err = k.security(cfg.Kafka)
	return o, err
}

// security reads the TLS files and the SASL credentials (files first, then the environment
// variables the config names).
func (k *kafkaFlags) security(cfg config.Kafka) (*tls.Config, sasl.Mechanism, error) {
	var tc *tls.Config
	if t := cfg.TLS; t != nil {
		var err error
		if tc, err = kafkaexport.TLSConfig(t); err != nil {
			return nil, nil, err
		}
	}
	s := cfg.SASL
	if s == nil {
		return tc, nil, nil
	}
	user, err := secret(k.saslUserFile, s.UsernameEnv, "username")
	if err != nil {
		return nil, nil, err
	}
	pass, err := secret(k.saslPassFile, s.PasswordEnv, "password")
	if err != nil {
		return nil, nil, err
	}
	m, err := kafkaexport.SASLMechanism(s.Mechanism, user, pass)
	return tc, m, err
}

// secret reads a credential from file, or else from the environment variable env.
func secret(file, env, what string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("kafka sasl %s file: %w", what, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	v := os.Getenv(env)
	if v == "" {
		return "", fmt.Errorf("kafka sasl %s: environment variable %s is empty and no --kafka-sasl-%s-file was given", what, env, what)
	}
	return v, nil
}

// sink is where the pipeline's events go, and how they are flushed at the end.
type sink interface {
	Emit(ev *event.Event)
	// finish flushes; it gives up when ctx ends.
	finish(ctx context.Context) error
}

type kafkaSink struct{ *kafkaexport.Exporter }

func (k kafkaSink) finish(ctx context.Context) error { return k.Close(ctx) }
