package main

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/realnet"
)

// TestDemo runs `make demo`'s flow for a short while, with the embedded Kafka and, as with
// KAFKA_BROKERS, with a broker in the host's namespace that the pod reaches through the route the
// demo adds: the sidecar the webhook injected, run as stored, must deliver events of all five
// protocols to Kafka, every event it emitted and no loss, and the demo must print its summary.
// This is what proves `make demo` works.
func TestDemo(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hostBroker func(t realnet.TB, hostIP, topic string) string
	}{
		{name: "embedded kafka"},
		{name: "kafka on the host", hostBroker: func(t realnet.TB, hostIP, topic string) string {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic),
				kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, hostIP+":0") }))
			if err != nil {
				t.Fatalf("kfake: %v", err)
			}
			t.Cleanup(c.Close)
			return c.ListenAddrs()[0]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			res, err := run(t.Context(), options{Repo: "../..", Duration: 5 * time.Second, Out: &out, hostBroker: tc.hostBroker})
			if err != nil {
				if m := (*missingError)(nil); errors.As(err, &m) {
					testenv.Missing(t, "%v", err)
				}
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			for _, typ := range []string{event.TypeMySQL, event.TypePgSQL, event.TypeRedis, event.TypeHTTP, event.TypeDNS, event.TypeFlow} {
				if res.byType[typ] == 0 {
					t.Errorf("no %s event arrived; types: %v", typ, res.Types())
				}
			}
			if res.lost != 0 || res.byType[event.TypeLoss] != 0 {
				t.Errorf("%d events lost in %d loss reports", res.lost, res.byType[event.TypeLoss])
			}
			if !res.emittedKnown || res.emitted == 0 {
				t.Errorf("the sidecar did not log what it emitted (known %v, %d)", res.emittedKnown, res.emitted)
			}
			if n := res.missing(); n != 0 {
				t.Errorf("%d of the %d events the sidecar emitted did not arrive in Kafka", n, res.emitted)
			}
			for _, want := range []string{"denied, as it should be", "admitted without a sidecar; warning:",
				"mysql Error", "SELECT * FROM no_such_table", "pgsql Error", "http Error", "GET /admin",
				"nope.wire-audit.test", "==> summary", "pod creation to its first event in Kafka", "all arrived in Kafka", "loss: 0"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the demo's output lacks %q", want)
				}
			}
			if got := strings.Contains(out.String(), "stands in for the real Kafka"); got != (tc.hostBroker != nil) {
				t.Errorf("the demo used the broker in the host's namespace: %v, want %v", got, tc.hostBroker != nil)
			}
			if t.Failed() {
				t.Logf("the demo's output:\n%s", out.String())
			}
		})
	}
}

func TestTally(t *testing.T) {
	const uid = "3a10fda9-3940-4ac0-85ed-1e80b7db6ff2"
	created := time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		record string
		mine   bool
		lost   uint64
	}{
		{name: "the pod's event", record: `{"type":"mysql","status":"OK","query":"SELECT 1","kubernetes":{"namespace":"shop","pod":{"name":"checkout-x","uid":"` + uid + `"}}}`, mine: true},
		{name: "another pod's event", record: `{"type":"mysql","query":"SELECT 1","kubernetes":{"pod":{"uid":"other"}}}`},
		{name: "an event with no pod", record: `{"type":"redis","method":"GET"}`},
		{name: "the pod's loss report", record: `{"type":"loss","loss":{"events":{"mysql":3},"total":3,"reason":"queue_full"},"kubernetes":{"pod":{"uid":"` + uid + `"}}}`, mine: true, lost: 3},
		{name: "a loss report of no pod", record: `{"type":"loss","loss":{"events":{"dns":1},"total":1,"reason":"shutdown"}}`, mine: true, lost: 1},
		{name: "not JSON", record: `SELECT 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTally(created)
			at := created.Add(250 * time.Millisecond)
			line, ok := tl.add([]byte(tc.record), uid, at)
			if ok != tc.mine {
				t.Fatalf("counted %v, want %v", ok, tc.mine)
			}
			if !ok {
				if tl.other != 1 || len(tl.byType) != 0 {
					t.Fatalf("other %d, types %v", tl.other, tl.byType)
				}
				return
			}
			if line == "" || tl.first != at || tl.lost != tc.lost {
				t.Fatalf("line %q, first %v, lost %d", line, tl.first, tl.lost)
			}
		})
	}
}

// TestBadOptions: a bad duration or KAFKA_BROKERS is refused, naming it, before anything
// starts (no root, no control plane needed).
func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts options
		want string
	}{
		{"zero duration", options{Duration: 0}, "duration 0s: must be positive"},
		{"negative duration", options{Duration: -time.Second}, "duration -1s: must be positive"},
		{"no port", options{Duration: time.Second, KafkaBrokers: []string{"kafka.example"}}, `KAFKA_BROKERS: "kafka.example": address kafka.example: missing port in address`},
		{"empty entry", options{Duration: time.Second, KafkaBrokers: []string{"192.0.2.10:9092", ""}}, `KAFKA_BROKERS: "": missing port in address`},
		{"loopback", options{Duration: time.Second, KafkaBrokers: []string{"127.0.0.1:9092"}}, "KAFKA_BROKERS: 127.0.0.1:9092 is a loopback address"},
		{"localhost", options{Duration: time.Second, KafkaBrokers: []string{"localhost:9092"}}, "KAFKA_BROKERS: localhost:9092 is a loopback address"},
		{"ipv6 loopback", options{Duration: time.Second, KafkaBrokers: []string{"[::1]:9092"}}, "KAFKA_BROKERS: [::1]:9092 is a loopback address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t.Context(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
