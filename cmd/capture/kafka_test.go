package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/test/freeport"
	"github.com/audit-io/wire-audit/test/kafkatest"
)

const replayConfig = `{"version":1,"protocols":[{"name":"mysql","ports":[13306]},{"name":"pgsql","ports":[15432]}],"flows":true,"kafka":{"topic":"from-config"},"healthPort":15099}`

// stdoutEvents replays pcap with --output stdout and returns one "community_id<TAB>json" per
// event, in output order.
func stdoutEvents(t *testing.T, cfgPath, pcap string) []string {
	t.Helper()
	var out bytes.Buffer
	if err := run([]string{"--config", cfgPath, "--pcap", pcap}, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var ev struct {
			Network struct {
				CommunityID string `json:"community_id"`
			} `json:"network"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		lines = append(lines, ev.Network.CommunityID+"\t"+l)
	}
	if len(lines) < 5 {
		t.Fatalf("%s: only %d events on stdout; the comparison would prove little", pcap, len(lines))
	}
	return lines
}

// sameEvents checks that got (from Kafka, in partition order) holds exactly the events of want
// (stdout order), keyed by community_id, with each key's events in stdout order.
func sameEvents(t *testing.T, want, got []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("kafka has %d events, stdout printed %d", len(got), len(want))
	}
	if !slices.Equal(slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(got))) {
		t.Fatal("kafka events differ from stdout events")
	}
	byKey := func(lines []string) map[string][]string {
		m := map[string][]string{}
		for _, l := range lines {
			k, _, _ := strings.Cut(l, "\t")
			m[k] = append(m[k], l)
		}
		return m
	}
	w, g := byKey(want), byKey(got)
	for k := range w {
		if !slices.Equal(w[k], g[k]) {
			t.Errorf("key %q: events in another order than on stdout", k)
		}
	}
}

func writeConfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(replayConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplayKafkaEqualsStdout(t *testing.T) {
	cfgPath := writeConfig(t)
	for _, pcap := range []string{
		"../../capture/protocols/mysql/testdata/slap.pcap",
		"../../capture/protocols/mysql/testdata/cli.pcap",
		"../../capture/protocols/pgsql/testdata/pgbench_extended.pcap",
		"../../capture/protocols/pgsql/testdata/pgx.pcap",
	} {
		t.Run(filepath.Base(pcap), func(t *testing.T) {
			want := stdoutEvents(t, cfgPath, pcap)
			c := kafkatest.Start(t)
			args := []string{"--config", cfgPath, "--pcap", pcap, "--output", "kafka",
				"--kafka-brokers", strings.Join(c.ListenAddrs(), ","), "--kafka-topic", kafkatest.Topic, "--kafka-compression", "zstd"}
			if err := run(args, os.Stdout, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range kafkatest.Consume(t, c.ListenAddrs(), len(want), 20*time.Second) {
				got = append(got, string(r.Key)+"\t"+string(r.Value))
			}
			sameEvents(t, want, got)
		})
	}
}

// TestReplayKafkaBrokerLateKcat runs kfake as its own process, started only after the replay
// began, and reads the topic back with kcat as soon as run returns: run must wait for the
// brokers, and return only once every event is acknowledged.
func TestReplayKafkaBrokerLateKcat(t *testing.T) {
	cfgPath := writeConfig(t)
	pcap := "../../capture/protocols/mysql/testdata/slap.pcap"
	want := stdoutEvents(t, cfgPath, pcap)
	bin := kafkatest.BuildProcess(t)
	port := freeport.Test(t)
	broker := "127.0.0.1:" + strconvItoa(port)
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"--config", cfgPath, "--pcap", pcap, "--output", "kafka", "--kafka-brokers", broker,
			"--kafka-topic", kafkatest.Topic, "--kafka-start-timeout", "30s"}, os.Stdout, slog.New(slog.DiscardHandler))
	}()
	time.Sleep(time.Second)
	select {
	case err := <-done:
		t.Fatalf("run returned %v before the broker existed", err)
	default:
	}
	kafkatest.StartProcess(t, bin, port, "")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sameEvents(t, want, kafkatest.Kcat(t, broker))
}

func TestKafkaFlagErrors(t *testing.T) {
	cfgPath := writeConfig(t)
	pcap := "../../capture/protocols/mysql/testdata/cli.pcap"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no brokers", []string{"--output", "kafka"}, nil, "no brokers"},
		{"bad broker", []string{"--output", "kafka", "--kafka-brokers", "k"}, nil, "kafka.brokers[0]"},
		{"bad topic", []string{"--output", "kafka", "--kafka-brokers", "k:9092", "--kafka-topic", "a/b"}, nil, "kafka.topic"},
		{"bad compression", []string{"--output", "kafka", "--kafka-brokers", "k:9092", "--kafka-compression", "brotli"}, nil, "kafka compression"},
		{"bad acks", []string{"--output", "kafka", "--kafka-brokers", "k:9092", "--kafka-acks", "two"}, nil, "kafka required acks"},
		{"bad mechanism", []string{"--output", "kafka", "--kafka-brokers", "k:9092", "--kafka-sasl-mechanism", "GSSAPI"}, nil, "kafka.sasl.mechanism"},
		{"no credentials", []string{"--output", "kafka", "--kafka-brokers", "k:9092", "--kafka-sasl-mechanism", "PLAIN"}, map[string]string{"KAFKA_SASL_USERNAME": "", "KAFKA_SASL_PASSWORD": ""}, "KAFKA_SASL_USERNAME is empty"},
		{"missing CA", []string{"--output", "kafka", "--kafka-brokers", "k:9092", "--kafka-tls-ca", "/nonexistent/ca.crt"}, nil, "tls.caFile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"--config", cfgPath, "--pcap", pcap}, tc.args...)
			err := run(args, os.Stdout, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error naming %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestKafkaSASLFromFiles reads SCRAM credentials from files, as a mounted Secret provides them.
func TestKafkaSASLFromFiles(t *testing.T) {
	dir := t.TempDir()
	for name, v := range map[string]string{"user": "audit\n", "pass": "pw-1\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := kafkatest.Start(t, kfakeSCRAM("audit", "pw-1")...)
	cfgPath := writeConfig(t)
	pcap := "../../capture/protocols/mysql/testdata/cli.pcap"
	want := stdoutEvents(t, cfgPath, pcap)
	args := []string{"--config", cfgPath, "--pcap", pcap, "--output", "kafka",
		"--kafka-brokers", strings.Join(c.ListenAddrs(), ","), "--kafka-topic", kafkatest.Topic,
		"--kafka-sasl-mechanism", "SCRAM-SHA-512", "--kafka-sasl-username-file", filepath.Join(dir, "user"), "--kafka-sasl-password-file", filepath.Join(dir, "pass")}
	if err := run(args, os.Stdout, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if got := kafkatest.Consume(t, c.ListenAddrs(), len(want), 20*time.Second, kgoSCRAM("audit", "pw-1")); len(got) != len(want) {
		t.Fatalf("%d events in kafka, %d on stdout", len(got), len(want))
	}
}

// TestEventsSubcommand replays a capture into kfake with a pod identity, then reads it back
// with `capture events`: one compact line per event, with the pod, type, status and query.
func TestEventsSubcommand(t *testing.T) {
	cfgPath := writeConfig(t)
	pcap := "../../capture/protocols/mysql/testdata/cli.pcap"
	t.Setenv("POD_NAMESPACE", "shop")
	t.Setenv("POD_NAME", "orders-1")
	want := stdoutEvents(t, cfgPath, pcap)
	c := kafkatest.Start(t)
	brokers := strings.Join(c.ListenAddrs(), ",")
	if err := run([]string{"--config", cfgPath, "--pcap", pcap, "--output", "kafka", "--kafka-brokers", brokers, "--kafka-topic", kafkatest.Topic},
		os.Stdout, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"compact", "json"} {
		var out bytes.Buffer
		if err := run([]string{"events", "--kafka-brokers", brokers, "--kafka-topic", kafkatest.Topic, "--from-beginning", "--exit-at-end", "-o", format},
			&out, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != len(want) {
			t.Fatalf("-o %s: %d lines, want %d events:\n%s", format, len(lines), len(want), out.String())
		}
		if format == "compact" {
			text := out.String()
			for _, s := range []string{" shop/orders-1 mysql OK ", "SELECT 1 FROM DUAL WHERE 1 = 0", " shop/orders-1 flow - 154.62ms 127.0.0.1:50490 -> 127.0.0.1:13306 bytes 1271/41500 final", " shop/orders-1 mysql Error 140µs SELECT * FROM no_such_table"} {
				if !strings.Contains(text, s) {
					t.Errorf("no %q in\n%s", s, text)
				}
			}
		}
	}
	// Without --exit-at-end it follows the topic until interrupted; a bad topic is an error.
	if err := run([]string{"events", "--kafka-brokers", brokers, "--kafka-topic", "no-such-topic", "--exit-at-end"}, io.Discard, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("unknown topic: %v", err)
	}
}

// TestOutputAutoFollowsBrokers: with no --output, a config that names brokers (as the webhook
// renders it) exports to Kafka and prints nothing.
func TestOutputAutoFollowsBrokers(t *testing.T) {
	c := kafkatest.Start(t)
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	cfg := strings.Replace(replayConfig, `"topic":"from-config"`, `"topic":"`+kafkatest.Topic+`","brokers":["`+c.ListenAddrs()[0]+`"]`, 1)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pcap := "../../capture/protocols/pgsql/testdata/simple.pcap"
	var out bytes.Buffer
	if err := run([]string{"--config", cfgPath, "--pcap", pcap}, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Fatalf("stdout got %d bytes with brokers configured", out.Len())
	}
	want := stdoutEvents(t, writeConfig(t), pcap)
	if got := kafkatest.Consume(t, c.ListenAddrs(), len(want), 20*time.Second); len(got) != len(want) {
		t.Fatalf("%d events in kafka, %d on stdout", len(got), len(want))
	}
}
