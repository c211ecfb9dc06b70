// Package e2e runs the whole path with real parts, except the kubelet and the container runtime:
// a real kube-apiserver and etcd with the webhook binary (built-in certificates) admit annotated
// pods; podrun starts each stored pod's capture sidecar exactly as rendered, as a local process
// in a network namespace that plays the pod; real clients there talk to real MariaDB,
// PostgreSQL, Redis, nginx and dnsmasq in the peer namespace; and the events land in kfake, a
// Kafka-protocol broker in the peer namespace, where kcat and a franz-go consumer read them.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/internal/imagebuild"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/test/gobuild"
	"github.com/audit-io/wire-audit/test/kafkatest"
	"github.com/audit-io/wire-audit/test/podrun"
	"github.com/audit-io/wire-audit/test/realnet"
)

// Image is the capture image in the cluster defaults the test writes; podrun runs the freshly
// built cmd/capture in its place.
const Image = "ghcr.io/audit-io/wire-audit-capture:e2e"

// Namespace is where the audited pods are created, at Pod Security level privileged.
const Namespace = "shop"

// stack is everything a test or benchmark shares: one control plane with the webhook, one
// pair of network namespaces (pods take turns in the pod end), kfake in the peer namespace.
type stack struct {
	cluster    *cluster.Cluster
	pair       *realnet.Pair
	broker     string // host:port of kfake, reachable from the pod namespace
	captureBin string
	entrypoint []string
	records    *consumer
}

// defaultsYAML are the cluster defaults: every protocol on the port its realnet server uses,
// Kafka at the kfake broker in the peer namespace, native sidecars.
const defaultsYAML = `sidecar:
  image: %s
  imagePullPolicy: IfNotPresent
  mode: native
  healthPort: 15099
capture:
  protocols:
    mysql: [3306]
    pgsql: [5432]
    redis: [6379]
    http: [80]
    dns: [53]
  flows: true
kafka:
  brokers: [%q]
  topic: %s
`

func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// newStack starts the control plane and the webhook (in the background, as they take longest),
// the network namespaces, kfake and the capture binary.
func newStack(tb testing.TB) *stack {
	tb.Helper()
	for _, tool := range []string{"setpriv", "kcat", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(tb, "e2e: %s is not installed (.ci/run installs it)", tool)
		}
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		testenv.Missing(tb, "e2e: KUBEBUILDER_ASSETS is not set: run `make envtest`, then KUBEBUILDER_ASSETS=$PWD/bin (make test does both)")
	}
	root := repoRoot(tb)
	// The image's ENTRYPOINT is what the kubelet runs when the container has no command; make
	// images writes this one into the capture image's config.
	s := &stack{pair: realnet.NewPair(tb), entrypoint: imagebuild.Capture.Entrypoint}
	kc := kafkatest.Start(tb, kfake.ListenFn(func(network, _ string) (ln net.Listener, err error) {
		return s.pair.Listen(s.pair.PeerNS, network, net.JoinHostPort(s.pair.PeerIP.String(), "0"))
	}))
	s.broker = kc.ListenAddrs()[0]
	defaults := filepath.Join(tb.TempDir(), "defaults.yaml")
	if err := os.WriteFile(defaults, fmt.Appendf(nil, defaultsYAML, Image, s.broker, kafkatest.Topic), 0o600); err != nil {
		tb.Fatal(err)
	}
	type started struct {
		c   *cluster.Cluster
		err error
	}
	cc := make(chan started, 1)
	go func() {
		c, err := cluster.Start(cluster.Options{RepoRoot: root, ConfigFile: defaults})
		cc <- started{c, err}
	}()
	bin, buildErr := gobuild.Capture(tb.Context(), root, tb.TempDir())
	st := <-cc
	if st.err != nil {
		tb.Fatalf("start the control plane and the webhook: %v", st.err)
	}
	s.cluster = st.c
	tb.Cleanup(s.cluster.Stop)
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	s.captureBin = bin
	ctx := context.Background()
	if err := s.cluster.Namespace(ctx, Namespace, map[string]string{
		"pod-security.kubernetes.io/enforce": "privileged",
	}); err != nil {
		tb.Fatal(err)
	}
	s.records = startConsumer(tb, s.pair, s.broker)
	return s
}

// annotations are the pod template's: capture on, everything else from the cluster defaults.
var annotations = map[string]string{"audit.io/capture": "true"}

// appContainer stands for the application; it never runs here.
var appContainer = corev1.Container{Name: "app", Image: "registry.example/shop/orders:1.0"}

// createPlainPod creates an annotated pod with labels on node nodeName and returns it as stored.
func (s *stack) createPlainPod(ctx context.Context, name, nodeName string) (*corev1.Pod, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Annotations: annotations,
			Labels: map[string]string{"app": "orders", "tier": "backend"}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{appContainer}},
	}
	return s.cluster.Clients.CoreV1().Pods(Namespace).Create(ctx, pod, metav1.CreateOptions{})
}

// createJob creates a batch/v1 Job whose template is annotated. No Job controller runs in
// envtest, so it creates no pod; see createJobPod.
func (s *stack) createJob(ctx context.Context, name string) (*batchv1.Job, error) {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32(0)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: annotations, Labels: map[string]string{"app": "migrate"}},
				Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{appContainer}},
			},
		},
	}
	return s.cluster.Clients.BatchV1().Jobs(Namespace).Create(ctx, job, metav1.CreateOptions{})
}

// createJobPod creates the pod the Job controller would: from the stored Job's template (to
// which the API server added the job-name and controller-uid labels), with generateName and a
// controller ownerReference, then scheduled on nodeName.
func (s *stack) createJobPod(ctx context.Context, job *batchv1.Job, nodeName string) (*corev1.Pod, error) {
	tmpl := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: job.Name + "-",
			Namespace:    job.Namespace,
			Labels:       tmpl.Labels,
			Annotations:  tmpl.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job,
				batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec: tmpl.Spec,
	}
	pod.Spec.NodeName = nodeName
	return s.cluster.Clients.CoreV1().Pods(Namespace).Create(ctx, pod, metav1.CreateOptions{})
}

// resolve reads the pod back from the API server and resolves its sidecar with podrun.
func (s *stack) resolve(ctx context.Context, tb testing.TB, name string) (*corev1.Pod, *podrun.Sidecar) {
	tb.Helper()
	pod, err := s.cluster.Clients.CoreV1().Pods(Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, ok := pod.Annotations["audit.io/status"]; !ok {
		tb.Fatalf("stored pod %s has no audit.io/status: the webhook did not inject it (annotations %v)", name, pod.Annotations)
	}
	sc, err := podrun.Resolve(pod, podrun.Options{
		Binaries:   map[string]string{Image: s.captureBin},
		Entrypoint: s.entrypoint,
		Dir:        tb.TempDir(),
		PodIP:      s.pair.PodIP.String(),
	})
	if err != nil {
		tb.Fatalf("resolve the sidecar of %s: %v", name, err)
	}
	return pod, sc
}

// observed is a record and when the consumer saw it.
type observed struct {
	at  time.Time
	rec *kgo.Record
}

// consumer reads the topic from the start in the peer namespace for as long as the test runs,
// and notes when each record arrived.
type consumer struct {
	mu   sync.Mutex
	recs []observed
	more chan struct{} // closed and replaced on every arrival
}

func startConsumer(tb testing.TB, pair *realnet.Pair, broker string) *consumer {
	tb.Helper()
	dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = realnet.InNS(pair.PeerNS, func() error {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(kafkatest.Topic), kgo.Dialer(dial),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		tb.Fatalf("kafka consumer: %v", err)
	}
	c := &consumer{more: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			now := time.Now()
			var got []observed
			fs.EachRecord(func(r *kgo.Record) { got = append(got, observed{now, r}) })
			if len(got) > 0 {
				c.mu.Lock()
				c.recs = append(c.recs, got...)
				close(c.more)
				c.more = make(chan struct{})
				c.mu.Unlock()
			}
		}
	}()
	tb.Cleanup(func() { cancel(); <-done; cl.Close() })
	return c
}

// waitFor returns the first record (from index from on) for which match is true, waiting up to
// timeout.
func (c *consumer) waitFor(from int, match func(*kgo.Record) bool, timeout time.Duration) (observed, bool) {
	deadline := time.After(timeout)
	for i := from; ; {
		c.mu.Lock()
		recs, more := c.recs, c.more
		c.mu.Unlock()
		for ; i < len(recs); i++ {
			if match(recs[i].rec) {
				return recs[i], true
			}
		}
		select {
		case <-more:
		case <-deadline:
			return observed{}, false
		}
	}
}

// len is how many records have arrived so far.
func (c *consumer) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}
