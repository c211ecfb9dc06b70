package main

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// topic is the topic of config/manager/config.yaml and the chart's default, which the demo
// keeps; kfakePort is Kafka's usual port, where kfake listens on the node's address.
const (
	topic     = "wire-audit-events"
	kfakePort = 9092
)

// checkBrokers refuses KAFKA_BROKERS before anything starts. Pods on the node reach only the
// node's own addresses (no default route, no masquerade: test/node keeps the machine's
// network out of the tests), so a Kafka elsewhere cannot be reached from the sidecar, and one
// on this machine would have to advertise the node's address, which exists only while the
// demo runs. The demo's Kafka is kfake on the node's address.
func checkBrokers(brokers string) error {
	if brokers == "" {
		return nil
	}
	return errors.New("KAFKA_BROKERS=" + brokers + ": a real Kafka is not supported by the demo on the node: its pods reach only the node's own addresses, so the sidecar could not reach the brokers; unset KAFKA_BROKERS (the demo runs kfake, a Kafka-protocol broker, on the node's address; see docs/demo.md)")
}

// consumer reads the topic from the demo process and prints the demo's events as they arrive.
type consumer struct {
	done   chan struct{}
	result *tally
	stop   context.CancelFunc
}

// consume starts reading the topic from its start; the events of namespace are counted and
// printed.
func (d *demo) consume(created time.Time) *consumer {
	t := d.t
	cl, err := kgo.NewClient(kgo.SeedBrokers(d.stack.Broker), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.ClientID("wire-audit-demo"))
	if err != nil {
		t.Fatalf("kafka consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	c := &consumer{done: make(chan struct{}), result: newTally(created, namespace), stop: cancel}
	t.Cleanup(func() { cancel(); <-c.done; cl.Close() })
	go func() {
		defer close(c.done)
		reported := map[string]bool{}
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachError(func(topic string, p int32, err error) {
				if errors.Is(err, context.Canceled) || reported[err.Error()] {
					return
				}
				reported[err.Error()] = true
				d.printf("    (kafka: topic %s partition %d: %v)\n", topic, p, err)
			})
			fs.EachRecord(func(r *kgo.Record) {
				if line, ok := c.result.add(r.Value, time.Now()); ok {
					d.printf("  %s\n", line)
				}
			})
		}
	}()
	return c
}

// drain waits until as many events arrived as the sidecars emitted, or, if they did not say,
// until none has arrived for drainIdle; drainMax at most. Then it stops reading and returns
// what arrived. The sidecars have exited by then, so whatever they flushed is in Kafka.
func (c *consumer) drain(emitted *emittedCounter) *tally {
	begin := time.Now()
	for time.Since(begin) < drainMax {
		want, known := emitted.total()
		if known && c.result.arrived() >= want || !known && time.Since(c.result.lastArrival(begin)) >= drainIdle {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.stop()
	<-c.done
	c.result.setEmitted(emitted.total())
	return c.result
}

const (
	drainIdle = 1500 * time.Millisecond
	drainMax  = 10 * time.Second
)
