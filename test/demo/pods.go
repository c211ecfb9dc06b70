package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/test/podrun"
	"github.com/audit-io/wire-audit/webhook"
)

// namespace is where the demo's pods go, labelled for the Pod Security "privileged" level: the
// sidecar adds NET_RAW and NET_ADMIN, which "baseline" forbids.
const namespace = "shop"

// nodeName stands in for spec.nodeName: no scheduler runs here.
const nodeName = "demo-node"

// startCluster writes the webhook's cluster defaults, config/manager/config.yaml with the demo's
// brokers and topic, and starts the control plane and the webhook with them.
func (d *demo) startCluster() (*cluster.Cluster, error) {
	raw, err := os.ReadFile(filepath.Join(d.opts.Repo, "config", "manager", "config.yaml"))
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("config/manager/config.yaml: %w", err)
	}
	k, _ := cfg["kafka"].(map[string]any)
	if k == nil {
		return nil, fmt.Errorf("config/manager/config.yaml: no kafka section")
	}
	k["brokers"], k["topic"] = d.kafka.Brokers, d.kafka.Topic
	// The image the webhook renders; the capture binary stands in for it.
	d.image = webhook.DefaultImage
	if sc, _ := cfg["sidecar"].(map[string]any); sc != nil {
		if img, _ := sc["image"].(string); img != "" {
			d.image = img
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	// Not d.t.TempDir: this runs beside the servers' start, and a Fatalf here would end
	// this goroutine rather than the demo.
	dir, err := os.MkdirTemp("", "wire-audit-demo-")
	if err != nil {
		return nil, err
	}
	d.t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, out, 0o600); err != nil {
		return nil, err
	}
	return cluster.Start(cluster.Options{RepoRoot: d.opts.Repo, ConfigFile: file, Log: d.logWriter("webhook")})
}

// checkoutPod is a pod as a Deployment's ReplicaSet would create it: generateName, the
// template's labels plus pod-template-hash, an owner reference, and the template's annotations.
func checkoutPod(annotations map[string]string) *corev1.Pod {
	const hash = "7d9f8b6c5d"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "checkout-" + hash + "-",
			Labels:       map[string]string{"app.kubernetes.io/name": "checkout", "app.kubernetes.io/part-of": "shop", "pod-template-hash": hash},
			Annotations:  annotations,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "checkout-" + hash,
				UID: types.UID("6b1f3c2e-5d4a-4e8b-9c7d-0a1b2c3d4e5f"), Controller: new(true), BlockOwnerDeletion: new(true)}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "checkout", Image: "registry.example/shop/checkout:1.4.2",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
}

// otherPods shows, briefly, the two other things the webhook does: deny a pod whose annotations
// are wrong, and admit a hostNetwork pod without a sidecar, with a warning.
func (d *demo) otherPods() {
	t := d.t
	ctx := t.Context()
	if err := d.c.Namespace(ctx, namespace, map[string]string{
		"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/warn": "privileged",
	}); err != nil {
		t.Fatalf("%v", err)
	}
	pods := d.c.Clients.CoreV1().Pods(namespace)
	d.step("namespace %s (Pod Security level privileged); first, a pod with %s: \"mysql:abc\" and %s: \"sometimes\"", namespace, webhook.AnnotationPorts, webhook.AnnotationFlows)
	_, err := pods.Create(ctx, checkoutPod(map[string]string{webhook.AnnotationCapture: "true", webhook.AnnotationPorts: "mysql:abc", webhook.AnnotationFlows: "sometimes"}), metav1.CreateOptions{})
	if err == nil {
		t.Fatalf("a pod with invalid annotations was admitted")
	}
	d.printf("    denied, as it should be:\n%s", indent([]byte(err.Error()+"\n")))

	d.step("an annotated hostNetwork pod")
	n := d.c.Warnings.Len()
	host := checkoutPod(map[string]string{webhook.AnnotationCapture: "true"})
	host.Spec.HostNetwork = true
	if _, err := pods.Create(ctx, host, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create hostNetwork pod: %v", err)
	}
	for _, w := range d.c.Warnings.Since(n) {
		d.printf("    admitted without a sidecar; warning: %s\n", w)
	}
}

// createAuditedPod creates the annotated pod and returns it as stored, and when it was created.
func (d *demo) createAuditedPod() (*corev1.Pod, time.Time) {
	t := d.t
	ctx := t.Context()
	pods := d.c.Clients.CoreV1().Pods(namespace)
	d.step("creating a Deployment-style pod (generateName checkout-7d9f8b6c5d-) annotated %s: \"true\"", webhook.AnnotationCapture)
	created := time.Now()
	p, err := pods.Create(ctx, checkoutPod(map[string]string{webhook.AnnotationCapture: "true"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create audited pod: %v", err)
	}
	stored, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod: %v", err)
	}
	d.printf("    stored as %s/%s (uid %s) in %s\n", namespace, stored.Name, stored.UID, time.Since(created).Round(time.Millisecond))
	if len(stored.Spec.InitContainers) == 0 {
		t.Fatalf("pod %s was stored without the sidecar", stored.Name)
	}
	sidecar, err := yaml.Marshal(stored.Spec.InitContainers[0])
	if err != nil {
		t.Fatalf("%v", err)
	}
	d.printf("    the sidecar the webhook injected (a native sidecar: an init container with restartPolicy Always):\n%s", indent(sidecar))
	d.printf("    its rendered config (%s, mounted through the downward API):\n%s", webhook.AnnotationRenderedConfig,
		indent([]byte(stored.Annotations[webhook.AnnotationRenderedConfig]+"\n")))
	return stored, created
}

// sidecarProcess is the running sidecar.
type sidecarProcess interface {
	Stop(timeout time.Duration) error
}

// startSidecar runs the pod's sidecar as the kubelet would (test/podrun) in the pod namespace,
// and waits for its startup probe. The counter it returns adds up the events the sidecar says,
// as it stops, that it emitted.
func (d *demo) startSidecar(pod *corev1.Pod) (sidecarProcess, *emittedCounter) {
	t := d.t
	d.step("running the sidecar exactly as stored: %s stands in for image %s", d.opts.CaptureBinary, d.image)
	sc, err := podrun.Resolve(pod, podrun.Options{
		Binaries: map[string]string{d.image: d.opts.CaptureBinary},
		Dir:      t.TempDir(), NodeName: nodeName, PodIP: d.pair.PodIP.String(),
	})
	if err != nil {
		t.Fatalf("resolve the sidecar: %v", err)
	}
	d.printf("    in network namespace %s: setpriv %s\n", d.pair.PodNS, strings.Join(append(append([]string(nil), sc.Setpriv...), sc.Argv...), " "))
	for _, n := range sc.NotApplied {
		d.printf("    not applied here: %s\n", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	emitted := &emittedCounter{}
	logLine := d.logLine("sidecar")
	stderr := &lineWriter{fn: func(line []byte) { emitted.line(line); logLine(line) }}
	// Not cancelled by Ctrl-C, which would SIGKILL it: an interrupted demo stops the sidecar as
	// the kubelet would, with SIGTERM, so that it still flushes to Kafka.
	p, err := sc.Start(context.WithoutCancel(t.Context()), d.pair.PodNS, d.logWriter("sidecar"), stderr)
	if err != nil {
		t.Fatalf("start the sidecar: %v", err)
	}
	t.Cleanup(func() { _ = p.Stop(gracePeriod(pod)) })
	if err := p.WaitReady(ctx); err != nil {
		t.Fatalf("sidecar not ready: %v", err)
	}
	return p, emitted
}

// emittedCounter sums the events (flow records included) of the sidecar's "capture stopped"
// log lines, one per interface.
type emittedCounter struct {
	mu         sync.Mutex
	events     uint64
	interfaces int
}

func (e *emittedCounter) line(line []byte) {
	var l struct {
		Msg    string `json:"msg"`
		Events uint64 `json:"events"`
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "capture stopped" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events += l.Events
	e.interfaces++
}

// total is the sum so far, and whether any interface reported.
func (e *emittedCounter) total() (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.events, e.interfaces > 0
}

func indent(b []byte) string {
	var sb strings.Builder
	for line := range strings.Lines(string(b)) {
		sb.WriteString("      ")
		sb.WriteString(line)
	}
	return sb.String()
}
