package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/audit-io/wire-audit/test/node"
)

// Load of TestWebhookAvailability: annotated pods created per second, and for how long.
const (
	loadRate     = 20
	loadDuration = 60 * time.Second
	loadNS       = "load"
)

// TestWebhookAvailability creates annotated pods through the webhook's Service at loadRate per
// second for loadDuration while the webhook's Deployment is restarted (kubectl rollout restart),
// one webhook pod is deleted, and a serving and a CA rotation are forced. With failurePolicy
// Fail, any moment without a ready, correctly served replica fails a creation. Required: no
// failed creation, and every created pod injected. The pods carry a scheduling gate, so they
// are admitted and stored but never run: this measures admission, not the node's capacity.
func TestWebhookAvailability(t *testing.T) {
	s := getStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := s.Node.Clients
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: loadNS, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), loadNS, metav1.DeleteOptions{})
	})
	deploy := Release + "-wire-audit-webhook"
	secret := Release + "-wire-audit-webhook-server-cert"

	before, err := cs.CoreV1().Secrets(System).Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var created, failed, notInjected atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	start := time.Now()
	tick := time.NewTicker(time.Second / loadRate)
	defer tick.Stop()
	disruptions := []struct {
		at   time.Duration
		what string
		do   func() error
	}{
		{5 * time.Second, "rollout restart", func() error {
			patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
			_, err := cs.AppsV1().Deployments(System).Patch(ctx, deploy, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		}},
		{20 * time.Second, "delete one webhook pod", func() error {
			l, err := cs.CoreV1().Pods(System).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=wire-audit"})
			if err != nil || len(l.Items) == 0 {
				return fmt.Errorf("no webhook pod to delete: %w", err)
			}
			return cs.CoreV1().Pods(System).Delete(ctx, l.Items[0].Name, metav1.DeleteOptions{})
		}},
		{28 * time.Second, "forced serving rotation", func() error { return annotateSecret(ctx, s, secret, "serving") }},
		{36 * time.Second, "forced CA rotation", func() error { return annotateSecret(ctx, s, secret, "ca") }},
	}
	next := 0
	for i := 0; time.Since(start) < loadDuration; i++ {
		<-tick.C
		if next < len(disruptions) && time.Since(start) >= disruptions[next].at {
			d := disruptions[next]
			if err := d.do(); err != nil {
				t.Errorf("%s: %v", d.what, err)
			}
			t.Logf("%5.1fs: %s", time.Since(start).Seconds(), d.what)
			next++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("load-%d", i), Namespace: loadNS, Annotations: annotations,
					Labels: map[string]string{"app": "load"}},
				Spec: corev1.PodSpec{
					SchedulingGates: []corev1.PodSchedulingGate{{Name: "wire-audit.test/never"}},
					Containers:      []corev1.Container{{Name: "pause", Image: node.PauseImage, ImagePullPolicy: corev1.PullNever}},
				},
			}
			got, err := cs.CoreV1().Pods(loadNS).Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				failed.Add(1)
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%5.1fs %s: %v", time.Since(start).Seconds(), pod.Name, err))
				mu.Unlock()
				return
			}
			created.Add(1)
			if got.Annotations["audit.io/status"] == "" || len(got.Spec.InitContainers) == 0 {
				notInjected.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d pods created in %.1fs (%.1f/s), %d failed, %d not injected",
		created.Load(), elapsed.Seconds(), float64(created.Load())/elapsed.Seconds(), failed.Load(), notInjected.Load())
	for i, f := range failures {
		if i == 20 {
			t.Logf("... and %d more", len(failures)-20)
			break
		}
		t.Log(f)
	}
	if failed.Load() != 0 || notInjected.Load() != 0 {
		t.Errorf("%d failed creations and %d pods not injected, want 0 and 0", failed.Load(), notInjected.Load())
	}
	if next != len(disruptions) {
		t.Errorf("only %d of %d disruptions ran", next, len(disruptions))
	}
	// The webhook is whole again: two ready replicas of the restarted template.
	if err := s.WaitDeploymentReady(ctx, System, deploy, 2, 2*time.Minute); err != nil {
		t.Error(err)
	}
	// The rotations happened: the Secret holds a new serving certificate and a new CA.
	after, err := cs.CoreV1().Secrets(System).Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tls.crt", "ca.crt"} {
		if len(after.Data[k]) == 0 || string(after.Data[k]) == string(before.Data[k]) {
			t.Errorf("the Secret's %s did not change: the forced rotations did not happen", k)
		}
	}
}

// annotateSecret asks the built-in rotator for a forced rotation, as docs/install.md tells users.
func annotateSecret(ctx context.Context, s *stack, name, what string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"audit.io/rotate":%q}}}`, what)
	_, err := s.Node.Clients.CoreV1().Secrets(System).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}
