// Command demo is the README's main job: it starts a real kube-apiserver and etcd, runs the
// webhook against them exactly as a cluster would call it, and shows what happens to an audited
// pod, a pod with a bad annotation and a pod that is skipped.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/webhook"
)

func main() {
	var root string
	var verbose bool
	flag.StringVar(&root, "repo", ".", "Repository root.")
	flag.BoolVar(&verbose, "v", false, "Show the webhook's log.")
	flag.Parse()
	if err := run(root, verbose); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func run(root string, verbose bool) error {
	step("starting kube-apiserver and etcd (built from source in bin/) and the webhook binary")
	opts := cluster.Options{RepoRoot: root}
	if verbose {
		opts.Log = os.Stderr
	}
	start := time.Now()
	c, err := cluster.Start(opts)
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf("    ready in %s; the API server calls the webhook over TLS through config/webhook/manifests.yaml\n", time.Since(start).Round(time.Millisecond))

	ctx := context.Background()
	if err := c.Namespace(ctx, "shop", nil); err != nil {
		return err
	}
	pods := c.Clients.CoreV1().Pods("shop")
	newPod := func(annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "checkout-", Labels: map[string]string{"app": "checkout"}, Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/shop/checkout:1.0"}}},
		}
	}

	step("creating a pod annotated %s: \"true\", %s: \"mysql,redis\"", webhook.AnnotationCapture, webhook.AnnotationProtocols)
	created, err := pods.Create(ctx, newPod(map[string]string{webhook.AnnotationCapture: "true", webhook.AnnotationProtocols: "mysql,redis"}), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create audited pod: %w", err)
	}
	stored, err := pods.Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if len(stored.Spec.InitContainers) == 0 {
		return fmt.Errorf("pod %s was stored without the sidecar", stored.Name)
	}
	sidecar, err := yaml.Marshal(stored.Spec.InitContainers[0])
	if err != nil {
		return err
	}
	fmt.Printf("    stored pod %s; the sidecar the webhook injected (a native sidecar):\n%s", stored.Name, indent(sidecar))
	var cfg any
	if err := json.Unmarshal([]byte(stored.Annotations[webhook.AnnotationRenderedConfig]), &cfg); err != nil {
		return err
	}
	cfgYAML, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	fmt.Printf("    its rendered config (%s, mounted through the downward API):\n%s", webhook.AnnotationRenderedConfig, indent(cfgYAML))

	step("creating a pod with %s: \"mysql:abc\" and %s: \"sometimes\"", webhook.AnnotationPorts, webhook.AnnotationFlows)
	_, err = pods.Create(ctx, newPod(map[string]string{webhook.AnnotationCapture: "true", webhook.AnnotationPorts: "mysql:abc", webhook.AnnotationFlows: "sometimes"}), metav1.CreateOptions{})
	if err == nil {
		return fmt.Errorf("a pod with invalid annotations was admitted")
	}
	fmt.Printf("    denied, as it should be:\n%s", indent([]byte(err.Error()+"\n")))

	step("creating an annotated hostNetwork pod")
	n := c.Warnings.Len()
	hostPod := newPod(map[string]string{webhook.AnnotationCapture: "true"})
	hostPod.Spec.HostNetwork = true
	if _, err := pods.Create(ctx, hostPod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create hostNetwork pod: %w", err)
	}
	for _, w := range c.Warnings.Since(n) {
		fmt.Printf("    admitted without a sidecar; warning: %s\n", w)
	}

	step("the webhook's admission counters (/metrics)")
	for _, o := range []webhook.Outcome{webhook.OutcomeInjected, webhook.OutcomeSkipped, webhook.OutcomeDenied} {
		v, err := c.Admissions("outcome", string(o))
		if err != nil {
			return err
		}
		fmt.Printf("    %-8s %v\n", o, v)
	}
	step("done; stopping the webhook and the control plane")
	return nil
}

func indent(b []byte) string {
	out := make([]byte, 0, len(b)+64)
	out = append(out, "      "...)
	for i, ch := range b {
		out = append(out, ch)
		if ch == '\n' && i != len(b)-1 {
			out = append(out, "      "...)
		}
	}
	return string(out)
}
