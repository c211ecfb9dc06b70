package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/config"
)

// TestNoKubernetesClientDeps keeps the sidecar small: it runs in every audited pod and must not
// link client-go or controller-runtime, nor grpc (HTTP/2 and gRPC are decoded with
// x/net/http2/hpack and a frame reader of its own; grpc-go is only the tests' peer).
func TestNoKubernetesClientDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list returned %d packages; the check would prove nothing", len(deps))
	}
	for _, dep := range deps {
		for _, banned := range []string{"k8s.io/", "sigs.k8s.io/", "google.golang.org/grpc"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("cmd/capture links %s", dep)
			}
		}
	}
}

func TestEffectiveConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.json")
	labelsPath := filepath.Join(dir, "labels")
	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfgPath, `{"version":1,"protocols":[{"name":"mysql","ports":[3306]}],"flows":true,"kafka":{"brokers":["k:9092"],"topic":"t"},"healthPort":15099,"kubernetes":{"namespace":"shop","labels":{"app":"old"}}}`)
	write(labelsPath, "app=\"new\"\nteam=\"payments\"\n")

	cfg, err := effectiveConfig(options{configPath: cfgPath, labelsPath: labelsPath}, identity{podName: "api-x1", namespace: "shop", podUID: "uid-1", nodeName: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Kubernetes
	if k.PodName != "api-x1" || k.PodUID != "uid-1" || k.NodeName != "node-a" || k.Namespace != "shop" {
		t.Errorf("identity = %+v", k)
	}
	if k.Labels["app"] != "new" || k.Labels["team"] != "payments" {
		t.Errorf("labels = %v, want the live labels file to win", k.Labels)
	}

	def, err := effectiveConfig(options{}, identity{})
	if err != nil || len(def.Protocols) != len(config.Protocols) {
		t.Errorf("no config: %+v, %v; want every protocol on", def.Protocols, err)
	}

	write(cfgPath, `{"version":1,"protocols":[{"name":"oracle"}],"healthPort":15099,"kafka":{"topic":"t"}}`)
	if _, err := effectiveConfig(options{configPath: cfgPath}, identity{}); err == nil || !strings.Contains(err.Error(), "protocols[0].name") || !strings.Contains(err.Error(), cfgPath) {
		t.Errorf("bad config: err = %v, want the file and field named", err)
	}
	write(labelsPath, "app=new\n")
	if _, err := effectiveConfig(options{labelsPath: labelsPath}, identity{}); err == nil || !strings.Contains(err.Error(), "labels line 1") {
		t.Errorf("bad labels: err = %v", err)
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgPath, []byte(`{"version":1,"interfaces":["eth0"],"protocols":[{"name":"mysql","ports":[3306]}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099}`), 0o600); err != nil {
		t.Fatal(err)
	}
	o := options{configPath: cfgPath, interfaces: "net1, eth0", maxQueryLength: 64, maskLiterals: true, flows: false,
		set: map[string]bool{"interfaces": true, "max-query-length": true, "mask-literals": true, "flows": true}}
	cfg, err := effectiveConfig(o, identity{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Interfaces, ",") != "net1,eth0" || cfg.Privacy.MaxQueryLength != 64 || !cfg.Privacy.MaskLiterals || cfg.Flows {
		t.Errorf("flags did not override the file: %+v", cfg)
	}
	// A flag left unset keeps the file's value.
	cfg, err = effectiveConfig(options{configPath: cfgPath, set: map[string]bool{}}, identity{})
	if err != nil || !cfg.Flows || cfg.Interfaces[0] != "eth0" {
		t.Errorf("unset flags changed the config: %+v %v", cfg, err)
	}
}

func TestBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"negative query length", []string{"--max-query-length", "-1"}, "privacy.maxQueryLength"},
		{"bad interface", []string{"--interfaces", "eth0/x"}, "interfaces[0]"},
		{"unknown output", []string{"--output", "syslog"}, `--output "syslog"`},
		{"stray argument", []string{"eth0"}, "unexpected arguments"},
		{"missing pcap", []string{"--pcap", "/nonexistent.pcap"}, "/nonexistent.pcap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, io.Discard, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error naming %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestReplayWithPrivacy replays a real MySQL capture through the whole binary path and checks
// that the privacy flags reach every event.
func TestReplayWithPrivacy(t *testing.T) {
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgPath, []byte(`{"version":1,"protocols":[{"name":"mysql","ports":[13306]}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	args := []string{"--config", cfgPath, "--pcap", "../../capture/protocols/mysql/testdata/cli.pcap", "--mask-literals", "--max-query-length", "40"}
	if err := run(args, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	var queries, flows int
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Type      string                `json:"type"`
			Query     string                `json:"query"`
			Truncated bool                  `json:"query_truncated"`
			Flow      *struct{ Final bool } `json:"flow"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		switch {
		case ev.Type == "flow":
			flows++
		case ev.Query != "":
			queries++
			if len(ev.Query) > 40 {
				t.Errorf("query of %d bytes: %q", len(ev.Query), ev.Query)
			}
			if strings.ContainsAny(ev.Query, "'0123456789") && !strings.Contains(ev.Query, "?") {
				t.Errorf("literal left unmasked: %q", ev.Query)
			}
		}
	}
	if queries < 5 || flows == 0 {
		t.Errorf("%d queries and %d flow records from cli.pcap; want several of each", queries, flows)
	}
	// cli.pcap holds SELECT 1 FROM DUAL WHERE 1 = 0, and a long INSERT.
	if !strings.Contains(text, `"query":"SELECT ? FROM DUAL WHERE ? = ?"`) ||
		!strings.Contains(text, `"query":"INSERT INTO accounts (owner, balance) VA","query_truncated":true`) {
		t.Errorf("no masked select or truncated insert in the output:\n%s", text)
	}
}

func TestHeapLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    options
		want int64
	}{
		{name: "stdout", o: options{memoryLimit: 40, output: "stdout"}, want: 40},
		{name: "kafka adds its queue", o: options{memoryLimit: 40, output: "kafka", kafka: kafkaFlags{queueMiB: 32}}, want: 72},
		{name: "an explicit limit is kept", o: options{memoryLimit: 50, output: "kafka", kafka: kafkaFlags{queueMiB: 32}, set: map[string]bool{"memory-limit-mib": true}}, want: 50},
		{name: "off stays off", o: options{memoryLimit: 0, output: "kafka", kafka: kafkaFlags{queueMiB: 32}}, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := heapLimitMiB(tc.o); got != tc.want {
				t.Fatalf("heapLimitMiB = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestQueueDefault: a queue that blocks (a replay's, or --kafka-queue-full block) defaults to
// blockingQueueMiB; a live queue that drops keeps 32; a queue size that is set always wins.
func TestQueueDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    options
		want int
	}{
		{name: "live", o: options{kafka: kafkaFlags{queueMiB: 32}}, want: 32},
		{name: "replay", o: options{pcap: "f.pcap", kafka: kafkaFlags{queueMiB: 32}}, want: blockingQueueMiB},
		{name: "live, block", o: options{kafka: kafkaFlags{queueMiB: 32, queueFull: "block"}}, want: blockingQueueMiB},
		{name: "replay, drop", o: options{pcap: "f.pcap", kafka: kafkaFlags{queueMiB: 32, queueFull: "drop"}}, want: 32},
		{name: "replay, set", o: options{pcap: "f.pcap", kafka: kafkaFlags{queueMiB: 64}, set: map[string]bool{"kafka-queue-mib": true}}, want: 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.defaultQueue()
			if tc.o.kafka.queueMiB != tc.want {
				t.Fatalf("queue %d MiB, want %d", tc.o.kafka.queueMiB, tc.want)
			}
		})
	}
}
