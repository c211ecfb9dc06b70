package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/kafkatest"
	"github.com/audit-io/wire-audit/test/podrun"
	"github.com/audit-io/wire-audit/test/realnet"
)

// servers are the real peers in the peer namespace.
type servers struct {
	db  *realnet.MariaDB
	pg  *realnet.Postgres
	rd  *realnet.Redis
	web *realnet.Nginx
	dns *realnet.Dnsmasq
}

func startServers(tb testing.TB, pair *realnet.Pair) *servers {
	tb.Helper()
	return &servers{
		db:  realnet.StartMariaDB(tb, pair, realnet.MariaDBOptions{}),
		pg:  realnet.StartPostgres(tb, pair, realnet.PostgresOptions{}),
		rd:  realnet.StartRedis(tb, pair, realnet.RedisOptions{}),
		web: realnet.StartNginx(tb, pair, realnet.NginxOptions{Files: map[string]string{"/hello.txt": "hello\n"}}),
		dns: realnet.StartDnsmasq(tb, pair, realnet.DnsmasqOptions{}),
	}
}

// traffic makes one round of transactions of every protocol, tagged with tag, through the real
// clients in the pod namespace, checks what the clients got, and returns the events expected
// for them: "<type> <status> <query>".
func (sv *servers) traffic(tb testing.TB, tag string) []string {
	tb.Helper()
	check := func(what, out string, err error, want string) {
		tb.Helper()
		if err != nil || strings.TrimSpace(out) != want {
			tb.Fatalf("%s: %q, %v; want %q", what, out, err, want)
		}
	}
	q := fmt.Sprintf("SELECT '%s' AS pod", tag)
	out, err := sv.db.RunClient(q + ";")
	check("mariadb", out, err, tag)
	out, err = sv.pg.RunClient(q + ";")
	check("psql", out, err, tag)
	out, err = sv.rd.CLI("", "SET", "pod", tag)
	check("redis-cli", out, err, "OK")
	out, err = sv.web.Curl(sv.web.URL("/hello.txt?pod=" + tag))
	check("curl", out, err, "hello")
	out, err = sv.dns.Dig(realnet.DNSHostName, "A")
	check("dig", out, err, realnet.DNSHostIP4)
	missing := tag + "." + realnet.DNSZone
	out, err = sv.dns.DigStatus(missing, "A")
	check("dig "+missing, out, err, "NXDOMAIN")
	// The mariadb client ends with COM_QUIT, an event of its own; psql sends the statement with
	// its semicolon and ends with Terminate, which is no transaction.
	return []string{
		tx("mysql", "OK", "SELECT", q),
		tx("mysql", "OK", "QUIT", ""),
		tx("pgsql", "OK", "SELECT", q+";"),
		tx("redis", "OK", "SET", "SET pod "+tag),
		tx("http", "OK", "GET", "GET /hello.txt?pod="+tag),
		tx("dns", "OK", "QUERY", "class IN, type A, "+realnet.DNSHostName),
		tx("dns", "Error", "QUERY", "class IN, type A, "+missing),
	}
}

// tx is how a transaction is compared: type, status, method and query.
func tx(typ, status, method, query string) string {
	return strings.TrimSpace(strings.Join([]string{typ, status, method, query}, " "))
}

// TestInjectedSidecarsToKafka admits a plain pod and a Job's pod through the real API server and
// the webhook, runs each stored pod's sidecar exactly as rendered (podrun: env from the downward
// API, config and labels files, uid 0 with only NET_ADMIN and NET_RAW and no_new_privs, read-only
// root), drives real clients against real servers, and reads Kafka: every transaction arrives
// once, with that pod's kubernetes.* metadata as stored, including the ones made just before
// SIGTERM, with no loss event; the sidecar exits 0 within the pod's termination grace period.
func TestInjectedSidecarsToKafka(t *testing.T) {
	s := newStack(t)
	sv := startServers(t, s.pair)
	ctx := t.Context()

	job, err := s.createJob(ctx, "migrate")
	if err != nil {
		t.Fatal(err)
	}
	pods := []struct {
		name   string
		create func() (*corev1.Pod, error)
	}{
		{"plain", func() (*corev1.Pod, error) { return s.createPlainPod(ctx, "orders-0", "node-e2e-1") }},
		{"job", func() (*corev1.Pod, error) { return s.createJobPod(ctx, job, "node-e2e-2") }},
	}
	want := map[string][]string{}      // pod name -> expected transactions
	stored := map[string]*corev1.Pod{} // pod name -> pod as stored
	for _, p := range pods {
		start := time.Now()
		created, err := p.create()
		if err != nil {
			t.Fatalf("create the %s pod: %v", p.name, err)
		}
		pod, sc := s.resolve(ctx, t, created.Name)
		stored[pod.Name] = pod
		t.Logf("%s pod %s: sidecar %s (native %v), argv %q, setpriv %q; not applied: %q",
			p.name, pod.Name, sc.Container.Name, sc.Native, sc.Argv, sc.Setpriv, sc.NotApplied)
		if !sc.Native {
			t.Errorf("%s pod: the sidecar is not a native sidecar (mode native in the defaults)", p.name)
		}
		from := s.records.len()
		proc, output := runSidecar(t, s, sc)
		want[pod.Name] = sv.traffic(t, pod.Name)
		first, ok := s.records.waitFor(from, forPod(pod.Name), 30*time.Second)
		if !ok {
			t.Fatalf("%s pod: no event in Kafka within 30 s of its traffic\n%s", p.name, output())
		}
		t.Logf("%s pod: pod creation to its first event in Kafka: %v (record timestamp %v)", p.name,
			first.at.Sub(start).Round(time.Millisecond), first.rec.Timestamp.Sub(start).Round(time.Millisecond))

		// The last transactions come right before SIGTERM: the drain and the flush must keep them.
		last := "last-" + pod.Name
		if out, err := sv.rd.CLI("", "SET", "last", last); err != nil || strings.TrimSpace(out) != "OK" {
			t.Fatalf("redis-cli: %q %v", out, err)
		}
		want[pod.Name] = append(want[pod.Name], tx("redis", "OK", "SET", "SET last "+last))
		grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
		stopStart := time.Now()
		if err := proc.Stop(grace); err != nil {
			t.Fatalf("%s pod: %v\n%s", p.name, err, output())
		}
		t.Logf("%s pod: SIGTERM to exit: %v (grace period %v)", p.name, time.Since(stopStart).Round(time.Millisecond), grace)
		if !strings.Contains(output(), `"kernelDrops":0`) {
			t.Errorf("%s pod: kernel drops or no final stats:\n%s", p.name, output())
		}
	}

	// kcat, an independent consumer, reads the whole topic after every sidecar has exited.
	records := kafkatest.KcatEvents(t, func(name string, args ...string) *exec.Cmd {
		return s.pair.Exec(s.pair.PeerNS, name, args...)
	}, s.broker)
	got := map[string][]string{}
	for _, r := range records {
		key, val, ev := r.Key, r.Value, r.Event
		if ev.Type == event.TypeLoss {
			t.Errorf("loss event: %s", val)
			continue
		}
		if ev.Kubernetes == nil {
			t.Errorf("event without kubernetes metadata: %s", val)
			continue
		}
		pod, ok := stored[ev.Kubernetes.Pod.Name]
		if !ok {
			t.Errorf("event of an unknown pod %q: %s", ev.Kubernetes.Pod.Name, val)
			continue
		}
		checkKubernetes(t, ev.Kubernetes, pod, val)
		if key == "" || key != ev.Network.CommunityID {
			t.Errorf("record key %q, community_id %q: %s", key, ev.Network.CommunityID, val)
		}
		if ev.Type == "flow" {
			continue
		}
		if ev.Client.IP != s.pair.PodIP || ev.Server.IP != s.pair.PeerIP {
			t.Errorf("client %v server %v, want %v and %v: %s", ev.Client.IP, ev.Server.IP, s.pair.PodIP, s.pair.PeerIP, val)
		}
		got[pod.Name] = append(got[pod.Name], tx(ev.Type, ev.Status, ev.Method, ev.Query))
	}
	for name, w := range want {
		slices.Sort(w)
		g := got[name]
		slices.Sort(g)
		if !slices.Equal(g, w) {
			t.Errorf("pod %s: transactions in Kafka\n%s\nwant exactly\n%s", name, strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	}
	// The Job's pod must look like one the Job controller made: a generated name, the labels the
	// API server adds to a Job's template, and the Job as its controller.
	jobPod := stored[podNames(stored, job.Name+"-")]
	if jobPod == nil {
		t.Fatalf("no stored pod named %s-*", job.Name)
	}
	if jobPod.Labels["job-name"] != job.Name || jobPod.Labels["batch.kubernetes.io/job-name"] != job.Name ||
		jobPod.Labels["batch.kubernetes.io/controller-uid"] != string(job.UID) {
		t.Errorf("the Job's pod lacks the labels the API server puts on a Job's template: %v", jobPod.Labels)
	}
	if ref := metav1.GetControllerOf(jobPod); ref == nil || ref.Kind != "Job" || ref.UID != job.UID {
		t.Errorf("the Job's pod is not controlled by the Job: %+v", jobPod.OwnerReferences)
	}
}

// runSidecar starts a resolved sidecar in the pod namespace and waits for its startup probe. Its
// output goes to a file, read by the returned function.
func runSidecar(tb testing.TB, s *stack, sc *podrun.Sidecar) (*podrun.Process, func() string) {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "sidecar-*.log")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	output := func() string { b, _ := os.ReadFile(f.Name()); return string(b) }
	proc, err := sc.Start(context.Background(), s.pair.PodNS, f, f)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(proc.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := proc.WaitReady(ctx); err != nil {
		tb.Fatalf("%v\n%s", err, output())
	}
	return proc, output
}

// checkKubernetes compares an event's kubernetes.* with the stored pod.
func checkKubernetes(t *testing.T, k *event.Kubernetes, pod *corev1.Pod, val string) {
	t.Helper()
	if k.Namespace != pod.Namespace || k.Pod.Name != pod.Name || k.Pod.UID != string(pod.UID) ||
		k.Node.Name != pod.Spec.NodeName || !maps.Equal(k.Labels, pod.Labels) {
		t.Errorf("kubernetes metadata %+v, want namespace %s pod %s uid %s node %s labels %v: %s",
			*k, pod.Namespace, pod.Name, pod.UID, pod.Spec.NodeName, pod.Labels, val)
	}
}

// forPod matches the records of the pod named name.
func forPod(name string) func(*kgo.Record) bool {
	return func(r *kgo.Record) bool {
		var ev struct {
			Kubernetes struct {
				Pod struct{ Name string } `json:"pod"`
			} `json:"kubernetes"`
		}
		return json.Unmarshal(r.Value, &ev) == nil && ev.Kubernetes.Pod.Name == name
	}
}

// podNames returns the name in m that starts with prefix.
func podNames(m map[string]*corev1.Pod, prefix string) string {
	for name := range m {
		if strings.HasPrefix(name, prefix) {
			return name
		}
	}
	return ""
}
