package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/audit-io/wire-audit/test/realnet"
)

// defaultTopic is the topic of config/manager/config.yaml, which the demo keeps.
const defaultTopic = "wire-audit-events"

// kfakePort is where the embedded broker listens in the peer namespace, Kafka's usual port.
const kfakePort = 9092

// kafkaSetup is where the events go and how the demo reads them back.
type kafkaSetup struct {
	Brokers []string
	Topic   string
	// Dial reaches the brokers from the demo process; nil dials from the host.
	Dial     func(ctx context.Context, network, host string) (net.Conn, error)
	Embedded bool
}

// startKafka starts kfake in the peer namespace, as a Kafka service beside the databases would
// be, or routes the pod namespace to the host for a real Kafka. The sidecar's own export is not
// audited either way: its capture filter holds only the audited protocols' ports.
func (d *demo) startKafka() *kafkaSetup {
	t := d.t
	if len(d.opts.KafkaBrokers) > 0 || d.opts.hostBroker != nil {
		k := &kafkaSetup{Brokers: d.opts.KafkaBrokers, Topic: d.opts.KafkaTopic}
		d.step("using the Kafka at %s (topic %s, which must exist); routing the pod namespace to this host through a veth", strings.Join(k.Brokers, ","), k.Topic)
		hostIP := d.routeToHost()
		if d.opts.hostBroker != nil {
			k.Brokers = []string{d.opts.hostBroker(t, hostIP, k.Topic)}
			d.printf("    a broker in the host's namespace at %s stands in for the real Kafka\n", k.Brokers[0])
		}
		d.checkBrokers(k.Brokers)
		d.checkTopic(k)
		return k
	}
	addr := net.JoinHostPort(d.pair.PeerIP.String(), strconv.Itoa(kfakePort))
	d.step("starting an embedded Kafka broker (kfake: in this process, the real wire protocol) at %s in the peer namespace, topic %s", addr, d.opts.KafkaTopic)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(kfakePort), kfake.SeedTopics(3, d.opts.KafkaTopic),
		kfake.ListenFn(func(network, _ string) (ln net.Listener, err error) {
			err = realnet.InNS(d.pair.PeerNS, func() error {
				ln, err = net.Listen(network, addr)
				return err
			})
			return ln, err
		}))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &kafkaSetup{Brokers: c.ListenAddrs(), Topic: d.opts.KafkaTopic, Embedded: true,
		Dial: func(ctx context.Context, network, host string) (conn net.Conn, err error) {
			err = realnet.InNS(d.pair.PeerNS, func() error {
				var dl net.Dialer
				conn, err = dl.DialContext(ctx, network, host)
				return err
			})
			return conn, err
		}}
}

// routeToHost gives the pod namespace a second veth whose other end is in the host's namespace,
// and a default route through it, as a CNI plugin would. A broker at one of this host's own
// addresses (not loopback, which is the pod's own) is then reachable; a broker elsewhere also
// needs the host to forward and masquerade the pod's address, which the demo leaves to the user
// rather than change the host's firewall.
func (d *demo) routeToHost() string {
	t := d.t
	// Unique on this host for the pid and the run (tests run several demos in one process).
	n := (os.Getpid() + int(routeSeq.Add(1))) % 250
	hostIf, podIf := fmt.Sprintf("wademo%d-%d", os.Getpid()%100000, n), "host0"
	hostIP, podIP := fmt.Sprintf("10.233.%d.1", n), fmt.Sprintf("10.233.%d.2", n)
	d.podHostIP = podIP
	ip := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("link", "add", hostIf, "type", "veth", "peer", "name", podIf, "netns", d.pair.PodNS)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", hostIf).Run() })
	ip("addr", "add", hostIP+"/30", "dev", hostIf)
	ip("link", "set", hostIf, "up")
	ip("-n", d.pair.PodNS, "addr", "add", podIP+"/30", "dev", podIf)
	ip("-n", d.pair.PodNS, "link", "set", podIf, "up")
	ip("-n", d.pair.PodNS, "route", "add", "default", "via", hostIP)
	d.printf("    pod %s (%s) -> host %s (%s); default route through the host\n", podIP, podIf, hostIP, hostIf)
	return hostIP
}

// routeSeq numbers the routes of this process.
var routeSeq atomic.Int64

// brokerAddrs checks KAFKA_BROKERS before anything starts: each must be host:port, and not a
// loopback address, which inside the pod namespace is the pod's own.
func brokerAddrs(brokers []string) error {
	for _, b := range brokers {
		host, _, err := net.SplitHostPort(b)
		if err != nil {
			return fmt.Errorf("KAFKA_BROKERS: %q: %w (want host:port[,host:port...])", b, err)
		}
		if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() || host == "localhost" {
			return fmt.Errorf("KAFKA_BROKERS: %s is a loopback address, which inside the pod namespace is the pod's own: give the broker's address on this host's network (and make it advertise that address)", b)
		}
	}
	return nil
}

// checkBrokers fails with what to do when a broker cannot be reached from the pod namespace.
func (d *demo) checkBrokers(brokers []string) {
	t, podIP := d.t, d.podHostIP
	for _, b := range brokers {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		c, err := d.pair.Dial(ctx, "tcp", b)
		cancel()
		if err != nil {
			t.Fatalf("KAFKA_BROKERS: %s is not reachable from the pod namespace (%v). A broker on this host works at a non-loopback address; a broker elsewhere needs this host to forward and masquerade %s/30, e.g. sysctl -w net.ipv4.ip_forward=1 and nft 'add table ip wademo; add chain ip wademo post { type nat hook postrouting priority 100; }; add rule ip wademo post ip saddr %s/30 masquerade'", b, err, podIP, podIP)
		}
		_ = c.Close()
	}
}

// checkTopic asks the brokers for the topic's partitions, so that a missing topic is named now
// rather than showing as a sidecar that exports nothing.
func (d *demo) checkTopic(k *kafkaSetup) {
	ctx, cancel := context.WithTimeout(d.t.Context(), 10*time.Second)
	defer cancel()
	client := &kafkago.Client{Addr: kafkago.TCP(k.Brokers...), Timeout: 10 * time.Second}
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{k.Topic}})
	if err != nil {
		d.t.Fatalf("KAFKA_BROKERS: metadata of topic %s: %v", k.Topic, err)
	}
	for _, tp := range md.Topics {
		if tp.Name == k.Topic && tp.Error == nil && len(tp.Partitions) > 0 {
			d.printf("    topic %s has %d partitions\n", k.Topic, len(tp.Partitions))
			return
		}
		if tp.Name == k.Topic && tp.Error != nil {
			d.t.Fatalf("KAFKA_TOPIC: topic %s on %s: %v; create it, or set KAFKA_TOPIC to one that exists", k.Topic, strings.Join(k.Brokers, ","), tp.Error)
		}
	}
	d.t.Fatalf("KAFKA_TOPIC: the brokers %s do not list topic %s; create it, or set KAFKA_TOPIC to one that exists", strings.Join(k.Brokers, ","), k.Topic)
}

// consumer reads the topic from the demo process and prints the pod's events as they arrive.
type consumer struct {
	done   chan struct{}
	result *tally
	stop   context.CancelFunc
}

// consume starts reading the events of pod (by uid) that were produced after the demo started.
func (d *demo) consume(podUID string, created time.Time) *consumer {
	t := d.t
	opts := []kgo.Opt{kgo.SeedBrokers(d.kafka.Brokers...), kgo.ConsumeTopics(d.kafka.Topic),
		kgo.FetchMaxWait(200 * time.Millisecond), kgo.ClientID("wire-audit-demo")}
	if d.kafka.Embedded {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(d.start.UnixMilli())))
	}
	if d.kafka.Dial != nil {
		opts = append(opts, kgo.Dialer(d.kafka.Dial))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatalf("kafka consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	c := &consumer{done: make(chan struct{}), result: newTally(created), stop: cancel}
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
				if line, ok := c.result.add(r.Value, podUID, time.Now()); ok {
					d.printf("  %s\n", line)
				}
			})
		}
	}()
	return c
}

// drain waits until as many events arrived as the sidecar emitted, or, if it did not say, until
// none has arrived for drainIdle; drainMax at most. Then it stops reading and returns what
// arrived. The sidecar has exited by then, so whatever it flushed is in Kafka.
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
