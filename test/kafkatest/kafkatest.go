// Package kafkatest runs kfake, an in-process Kafka cluster that speaks the real wire protocol,
// and reads topics back for tests. cmd/kfake runs the same cluster as a separate process, so
// tests can kill and restart a broker.
package kafkatest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/gobuild"
)

// Topic is the topic every test cluster is seeded with.
const Topic = "wire-audit-test"

// Partitions is the partition count of Topic: several, so keying is visible.
const Partitions = 4

// Start runs an in-process cluster with Topic seeded; it is closed when the test ends.
func Start(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(Partitions, Topic)}, opts...)...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Consume reads Topic from the start until n records arrived or timeout passed, and returns
// what it got. extra adds client options (TLS, SASL).
func Consume(t testing.TB, brokers []string, n int, timeout time.Duration, extra ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, extra...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	return recs
}

// Process is kfake running as its own process (cmd/kfake), so it can be killed.
type Process struct {
	Addr string
	cmd  *exec.Cmd
	bin  string
	args []string
	cpus string // taskset's CPU list, "" for any CPU
}

// BuildProcess compiles cmd/kfake into a temporary directory once per test binary.
func BuildProcess(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kfake")
	if err := gobuild.Go(t.Context(), ".", "github.com/audit-io/wire-audit/test/kafkatest/cmd/kfake", bin, nil); err != nil {
		t.Fatal(err)
	}
	return bin
}

// StartProcess runs bin on port with its log in dataDir (persisted across restarts).
func StartProcess(t testing.TB, bin string, port int, dataDir string, extra ...string) *Process {
	t.Helper()
	return StartProcessOn(t, "", bin, port, dataDir, extra...)
}

// StartProcessOn is StartProcess with the broker held to cpus (a taskset CPU list), so that a
// benchmark can keep it off the core it measures, as a broker on another machine would be.
func StartProcessOn(t testing.TB, cpus, bin string, port int, dataDir string, extra ...string) *Process {
	t.Helper()
	p := &Process{Addr: "127.0.0.1:" + strconv.Itoa(port), bin: bin, cpus: cpus,
		args: append([]string{"-port", strconv.Itoa(port), "-data", dataDir, "-topic", Topic, "-partitions", strconv.Itoa(Partitions)}, extra...)}
	p.start(t)
	t.Cleanup(p.Kill)
	return p
}

func (p *Process) start(t testing.TB) {
	t.Helper()
	p.cmd = exec.Command(p.bin, p.args...)
	if p.cpus != "" {
		p.cmd = exec.Command("taskset", append([]string{"-c", p.cpus, p.bin}, p.args...)...)
	}
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start kfake: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", p.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("kfake did not listen on %s", p.Addr)
}

// Kill stops the broker with SIGKILL, as a crash would.
func (p *Process) Kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		p.cmd = nil
	}
}

// Restart starts the broker again on the same port and data directory.
func (p *Process) Restart(t testing.TB) {
	t.Helper()
	p.Kill()
	p.start(t)
}

// Kcat runs the Debian kcat as an independent consumer of the whole topic and returns one
// "key<TAB>value" line per record, in partition order.
func Kcat(t testing.TB, broker string) []string {
	t.Helper()
	return KcatWith(t, exec.Command, broker)
}

// KcatWith is Kcat with the command made by command (for example in a network namespace).
func KcatWith(t testing.TB, command func(name string, args ...string) *exec.Cmd, broker string) []string {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		testenv.Missing(t, "kcat not installed (Debian package kcat; .ci/run installs it)")
	}
	out, err := command(kcat, "-C", "-b", broker, "-t", Topic, "-e", "-q", "-K", "\t", "-f", "%k\t%s\n").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines
}

// Record is one audit event kcat read: its record key, its value as written, and the value
// decoded.
type Record struct {
	Key, Value string
	Event      event.Event
}

// KcatEvents is KcatWith with every record decoded as an audit event; a record that is not one
// fails the test.
func KcatEvents(t testing.TB, command func(name string, args ...string) *exec.Cmd, broker string) []Record {
	t.Helper()
	lines := KcatWith(t, command, broker)
	records := make([]Record, 0, len(lines))
	for _, l := range lines {
		r := Record{}
		r.Key, r.Value, _ = strings.Cut(l, "\t")
		if err := json.Unmarshal([]byte(r.Value), &r.Event); err != nil {
			t.Fatalf("kcat line %q: %v", l, err)
		}
		records = append(records, r)
	}
	return records
}

// String describes a record for failure messages.
func String(r *kgo.Record) string {
	return fmt.Sprintf("p%d@%d key=%s %s", r.Partition, r.Offset, r.Key, r.Value)
}
