package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/node"
)

// TestDemo runs `make demo` for a short while on a real node: the chart installed with our
// images, the annotated Deployment's and Job's pods run by the kubelet with the injected
// sidecar, must deliver events of all five protocols to Kafka from both pods, every event the
// sidecars emitted and no loss; the Job must complete and the demo print its summary. This is
// what proves `make demo` works.
func TestDemo(t *testing.T) {
	node.Require(t, "../..")
	var out bytes.Buffer
	res, err := run(t.Context(), options{Repo: "../..", Duration: 5 * time.Second, Out: &out})
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
	var pods []string
	for pod, n := range res.byPod {
		pods = append(pods, pod)
		if n == 0 {
			t.Errorf("pod %s: no event", pod)
		}
	}
	if len(pods) != 2 || !slices.ContainsFunc(pods, func(p string) bool { return strings.HasPrefix(p, deployment+"-") }) ||
		!slices.ContainsFunc(pods, func(p string) bool { return strings.HasPrefix(p, job+"-") }) {
		t.Errorf("events of pods %v, want one pod of Deployment %s and one of Job %s", pods, deployment, job)
	}
	if res.lost != 0 || res.byType[event.TypeLoss] != 0 {
		t.Errorf("%d events lost in %d loss reports", res.lost, res.byType[event.TypeLoss])
	}
	if !res.emittedKnown || res.emitted == 0 {
		t.Errorf("the sidecars did not log what they emitted (known %v, %d)", res.emittedKnown, res.emitted)
	}
	if n := res.missing(); n != 0 {
		t.Errorf("%d of the %d events the sidecars emitted did not arrive in Kafka", n, res.emitted)
	}
	for _, want := range []string{"denied, as it should be", "admitted without a sidecar; warning:",
		"the sidecar the webhook injected", "shop/" + deployment + "-", "shop/" + job + "-", "mysql OK", "pgsql OK",
		"redis OK", "http OK", "dns Error", "Job " + job + ": Complete (1 pod succeeded)",
		"==> summary", "Deployment creation to its pod's first event in Kafka", "all arrived in Kafka", "loss: 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("the demo's output:\n%s", out.String())
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
		{name: "another namespace's event", record: `{"type":"mysql","query":"SELECT 1","kubernetes":{"namespace":"other","pod":{"uid":"other"}}}`},
		{name: "an event with no pod", record: `{"type":"redis","method":"GET"}`},
		{name: "the pod's loss report", record: `{"type":"loss","loss":{"events":{"mysql":3},"total":3,"reason":"queue_full"},"kubernetes":{"namespace":"shop","pod":{"uid":"` + uid + `"}}}`, mine: true, lost: 3},
		{name: "a loss report of no pod", record: `{"type":"loss","loss":{"events":{"dns":1},"total":1,"reason":"shutdown"}}`, mine: true, lost: 1},
		{name: "not JSON", record: `SELECT 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := newTally(created, "shop")
			at := created.Add(250 * time.Millisecond)
			line, ok := tl.add([]byte(tc.record), at)
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

// TestBadOptions: a bad duration or a KAFKA_BROKERS is refused, naming it, before anything
// starts (no root, no node needed).
func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts options
		want string
	}{
		{"zero duration", options{Duration: 0}, "-duration (DEMO_DURATION) 0s: must be positive"},
		{"negative duration", options{Duration: -time.Second}, "-duration (DEMO_DURATION) -1s: must be positive"},
		{"a real kafka", options{Duration: time.Second, KafkaBrokers: "192.0.2.10:9092"}, "KAFKA_BROKERS=192.0.2.10:9092: a real Kafka is not supported by the demo on the node: its pods reach only the node's own addresses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t.Context(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run: err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
