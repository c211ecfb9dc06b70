// Package capture_test runs the capture sidecar binary live in a network namespace that plays
// the pod, against real MariaDB and PostgreSQL servers driven by real clients, and checks the
// events against what the clients did, against a replay of a pcap of the same traffic, and
// against tshark's dissection of that pcap.
package capture_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/gobuild"
	"github.com/audit-io/wire-audit/test/realnet"
)

// binary is a test binary built once per test binary, the first time a test needs it.
type binary struct {
	once sync.Once
	path string
	err  error
}

// builtDirs are the directories get built binaries into, removed by TestMain.
var (
	builtMu   sync.Mutex
	builtDirs []string
)

// TestMain removes the binaries the tests built, once they have all run.
func TestMain(m *testing.M) {
	code := m.Run()
	builtMu.Lock()
	for _, dir := range builtDirs {
		_ = os.RemoveAll(dir)
	}
	builtMu.Unlock()
	os.Exit(code)
}

// get builds the binary with build (into a new temporary directory) once, and returns its
// path; a failed build fails every test that asks.
func (b *binary) get(t *testing.T, build func(dir string) (string, error)) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "capture-test-bin-")
		if err != nil {
			b.err = err
			return
		}
		builtMu.Lock()
		builtDirs = append(builtDirs, dir)
		builtMu.Unlock()
		b.path, b.err = build(dir)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

var captureBin binary

// captureBinary builds cmd/capture once per test binary.
func captureBinary(t *testing.T) string {
	t.Helper()
	return captureBin.get(t, func(dir string) (string, error) { return gobuild.Capture(context.Background(), "../..", dir) })
}

// sidecar is a running capture binary.
type sidecar struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	done   bool
}

// identity is what the downward API would give the sidecar.
var identity = []string{"POD_NAME=orders-7d9f-x2x", "POD_NAMESPACE=shop", "POD_UID=5f0c1e7a-1111-2222-3333-444455556666", "NODE_NAME=node-a"}

// startSidecar runs the capture binary live on the pod end of the pair, in the pod's namespace,
// with the capability bounding set the webhook renders (NET_RAW and NET_ADMIN only) and
// no_new_privs, and waits until /readyz answers.
func startSidecar(t *testing.T, pair *realnet.Pair, configJSON string, args ...string) *sidecar {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(configJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := captureBinary(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		testenv.Missing(t, "setpriv (util-linux) is not installed")
	}
	full := append([]string{"--reuid=0", "--regid=0", "--clear-groups", "--inh-caps=-all",
		"--bounding-set=-all,+net_raw,+net_admin", "--no-new-privs", "--", bin, "--config", cfg, "--stats-interval", "1h"}, args...)
	s := &sidecar{cmd: pair.Exec(pair.PodNS, setpriv, full...)}
	s.cmd.Env = append(os.Environ(), identity...)
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !s.done {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: pair.Dial}}
	for range 100 {
		resp, err := client.Get("http://127.0.0.1:15099/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("sidecar not ready within 5 s\n%s", s.stderr.String())
	return nil
}

// stop sends SIGTERM, as the kubelet does, and returns the events the sidecar wrote.
func (s *sidecar) stop(t *testing.T) []event.Event {
	t.Helper()
	// Packets still in the ring's current block reach the sidecar within its block timeout.
	time.Sleep(300 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- s.cmd.Wait() }()
	select {
	case err := <-waitErr:
		s.done = true
		if err != nil {
			t.Fatalf("sidecar exited with %v\n%s", err, s.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("sidecar did not exit within 10 s of SIGTERM")
	}
	if !strings.Contains(s.stderr.String(), `"kernelDrops":0`) {
		t.Errorf("kernel drops during the test:\n%s", s.stderr.String())
	}
	return parseEvents(t, s.stdout.Bytes())
}

// stopOracle stops tcpdump and fails the test if it did not write every packet it received:
// the replay and tshark comparisons would then blame the sidecar for the oracle's loss.
func stopOracle(t *testing.T, dump *realnet.Tcpdump) {
	t.Helper()
	st, err := dump.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if st.KernelDropped != 0 || st.Captured != st.Received {
		t.Fatalf("tcpdump, the oracle, lost packets (captured %d of %d received, %d dropped by the kernel): the replay and tshark checks would be wrong",
			st.Captured, st.Received, st.KernelDropped)
	}
}

func parseEvents(t *testing.T, out []byte) []event.Event {
	t.Helper()
	var evs []event.Event
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	for sc.Scan() {
		var ev event.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("bad event line %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// replay runs the capture binary over a pcap file and returns its events.
func replay(t *testing.T, pcap, configJSON string) []event.Event {
	t.Helper()
	evs, _ := replayOutput(t, pcap, configJSON)
	return evs
}

// replayOutput is replay that also returns everything the binary wrote, stdout and stderr.
func replayOutput(t *testing.T, pcap, configJSON string) ([]event.Event, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "replay.json")
	if err := os.WriteFile(cfg, []byte(configJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(captureBinary(t), "--config", cfg, "--pcap", pcap)
	cmd.Env = append(os.Environ(), identity...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("replay %s: %v\n%s", pcap, err, stderr.String())
	}
	return parseEvents(t, stdout.Bytes()), stdout.String() + stderr.String()
}

// transactions keeps the events of type typ, in order.
func transactions(evs []event.Event, typ string) []event.Event {
	var out []event.Event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// summary is what must match between live capture and replay of the same traffic.
func summary(evs []event.Event) []string {
	var out []string
	for _, ev := range evs {
		s := fmt.Sprintf("%s %s %s %q", ev.Type, ev.Status, ev.Method, ev.Query)
		if ev.MySQL != nil {
			s += fmt.Sprintf(" rows=%d fields=%d affected=%d err=%d", ev.MySQL.NumRows, ev.MySQL.NumFields, ev.MySQL.AffectedRows, ev.MySQL.ErrorCode)
		}
		if ev.PgSQL != nil {
			s += fmt.Sprintf(" rows=%d fields=%d err=%s", ev.PgSQL.NumRows, ev.PgSQL.NumFields, ev.PgSQL.ErrorCode)
		}
		if m := ev.MongoDB; m != nil {
			s += fmt.Sprintf(" docs=%d cursor=%d err=%d", m.NumDocs, m.CursorID, m.ErrorCode)
		}
		if ev.Flow != nil {
			s = fmt.Sprintf("flow final=%v bytes=%d/%d gaps=%d/%d", ev.Flow.Final, ev.Source.Bytes, ev.Destination.Bytes, ev.Flow.Gaps.Source, ev.Flow.Gaps.Destination)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// find returns the events of typ whose query is q.
func find(evs []event.Event, q string) []event.Event {
	var out []event.Event
	for _, ev := range evs {
		if ev.Query == q {
			out = append(out, ev)
		}
	}
	return out
}

// one returns the single event whose query is q, or fails.
func one(t *testing.T, evs []event.Event, q string) event.Event {
	t.Helper()
	got := find(evs, q)
	if len(got) != 1 {
		t.Fatalf("%d events for %q, want 1", len(got), q)
	}
	return got[0]
}

// checkIdentity asserts the Kubernetes metadata and the connection fields of ev.
func checkIdentity(t *testing.T, ev event.Event, pair *realnet.Pair, port uint16) {
	t.Helper()
	k := ev.Kubernetes
	if k == nil || k.Namespace != "shop" || k.Pod.Name != "orders-7d9f-x2x" || k.Pod.UID == "" || k.Node.Name != "node-a" {
		t.Errorf("kubernetes metadata %+v", k)
	}
	if ev.Client.IP != pair.PodIP || ev.Server.IP != pair.PeerIP || ev.Server.Port != port || ev.Network.CommunityID == "" {
		t.Errorf("endpoints client %v server %v:%d community %q", ev.Client.IP, ev.Server.IP, ev.Server.Port, ev.Network.CommunityID)
	}
}

// tsharkFields runs tshark on pcap with a display filter and returns one line per value.
func tsharkFields(t *testing.T, pcap string, args ...string) []string {
	t.Helper()
	out, err := realnet.Tshark(t, pcap, args...)
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// sendGarbage opens a connection with dial, writes bytes that are no protocol at all and
// closes it: decoders must stay quiet and alive.
func sendGarbage(t *testing.T, ctx context.Context, dial func(context.Context) (net.Conn, error)) {
	t.Helper()
	c, err := dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("\x16\x03\x01\x00\xff\x00\x01garbage\xfe\xfd\r\n\r\n\x00\x00")); err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, c) // the server answers (or not) and closes
	_ = c.Close()
}
