package capture_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/kafkatest"
	"github.com/audit-io/wire-audit/test/realnet"
)

// TestMySQLLiveToKafka runs the sidecar live with --output kafka against kfake listening inside
// the pod's namespace, scrapes /metrics, stops it with SIGTERM, and reads the topic with kcat:
// every statement arrives, keyed by its connection's community_id.
func TestMySQLLiveToKafka(t *testing.T) {
	pair := realnet.NewPair(t)
	db := realnet.StartMariaDB(t, pair, realnet.MariaDBOptions{})
	c := kafkatest.Start(t, kfake.ListenFn(func(network, addr string) (ln net.Listener, err error) {
		err = realnet.InNS(pair.PodNS, func() error {
			ln, err = net.Listen(network, addr)
			return err
		})
		return ln, err
	}))
	broker := c.ListenAddrs()[0]
	sc := startSidecar(t, pair, mysqlConfig, "--output", "kafka", "--kafka-brokers", broker, "--kafka-topic", kafkatest.Topic)

	queries := []string{"SELECT 1 AS one", "SELECT 'kafka' AS sink", "SELECT * FROM no_such_table"}
	for _, q := range queries {
		_, _ = db.RunClient(q + ";")
	}
	metrics := scrape(t, pair)
	for _, re := range []string{
		`wire_audit_events_total\{type="mysql"\} [1-9]`,
		`wire_audit_packets_captured_total\{interface="[^"]+"\} [1-9]`,
		`wire_audit_kernel_drops_total\{interface="[^"]+"\} 0`,
		`wire_audit_reassembly_gaps_total\{interface="[^"]+"\} 0`,
		`wire_audit_export_queue_bytes \d`,
		`wire_audit_kafka_errors_total 0`,
		`wire_audit_export_latency_seconds_count [1-9]`,
		`wire_audit_export_acked_total [1-9]`,
	} {
		if !regexp.MustCompile(`(?m)^` + re).MatchString(metrics) {
			t.Errorf("/metrics has no line matching %s", re)
		}
	}
	if out := sc.stop(t); len(out) != 0 {
		t.Fatalf("%d events on stdout with --output kafka", len(out))
	}

	records := kafkatest.KcatEvents(t, func(name string, args ...string) *exec.Cmd { return pair.Exec(pair.PodNS, name, args...) }, broker)
	found := map[string]event.Event{}
	for _, r := range records {
		key, val, ev := r.Key, r.Value, r.Event
		if ev.Type == event.TypeLoss {
			t.Errorf("loss event: %s", val)
		}
		if key != ev.Network.CommunityID || key == "" {
			t.Errorf("key %q for community_id %q", key, ev.Network.CommunityID)
		}
		if ev.Kubernetes == nil || ev.Kubernetes.Pod.Name != "orders-7d9f-x2x" {
			t.Errorf("event without the pod identity: %s", val)
		}
		found[ev.Query] = ev
	}
	for _, q := range queries {
		if _, ok := found[q]; !ok {
			t.Errorf("query %q not in kafka (%d records)", q, len(records))
		}
	}
	if ev := found["SELECT * FROM no_such_table"]; ev.Status != event.StatusError {
		t.Errorf("failed query has status %q", ev.Status)
	}
}

func scrape(t *testing.T, pair *realnet.Pair) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: pair.Dial}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Events reach the exporter once the client's connection ends; wait for the acks.
	var body string
	for range 50 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(15099)+"/metrics", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		body = string(b)
		if regexp.MustCompile(`(?m)^wire_audit_export_acked_total [1-9]`).MatchString(body) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return body
}
