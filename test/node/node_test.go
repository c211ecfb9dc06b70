package node_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/test/node"
)

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestNodeRunsPod starts a node, runs a pod on it, and checks that Stop leaves nothing behind.
func TestNodeRunsPod(t *testing.T) {
	node.Require(t, repoRoot(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n, err := node.Start(ctx, node.Options{RepoRoot: repoRoot(t), Log: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			n.Stop()
		}
	})
	t.Logf("node Ready in %s", n.Ready)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pause", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "pause", Image: node.PauseImage, ImagePullPolicy: corev1.PullNever,
		}}},
	}
	if _, err := n.Clients.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var got *corev1.Pod
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		got, err = n.Clients.CoreV1().Pods("default").Get(ctx, "pause", metav1.GetOptions{})
		if err == nil && got.Status.Phase == corev1.PodRunning {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got == nil || got.Status.Phase != corev1.PodRunning {
		t.Fatalf("pod not Running: %+v\nkubelet:\n%s", got.Status, n.Logs("kubelet", 4000))
	}
	if !node.PodCIDR.Contains(mustAddr(t, got.Status.PodIP)) {
		t.Errorf("pod IP %s outside %s", got.Status.PodIP, node.PodCIDR)
	}
	dir := n.StateDir()
	n.Stop()
	stopped = true
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory %s still exists after Stop", dir)
	}
	if left := node.Leftovers(); len(left) > 0 {
		t.Errorf("left behind after Stop: %v", left)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// TestStartFailsClean: a Start that fails midway (an image tarball that does not exist, after
// the bridges, cgroups, containerd and the API server are up) returns the error and leaves
// nothing behind.
func TestStartFailsClean(t *testing.T) {
	node.Require(t, repoRoot(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	missing := filepath.Join(t.TempDir(), "missing.tar")
	n, err := node.Start(ctx, node.Options{RepoRoot: repoRoot(t), Images: []string{missing}})
	if err == nil {
		n.Stop()
		t.Fatal("Start with a missing image tarball succeeded")
	}
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("the error does not name the tarball: %v", err)
	}
	if left := node.Leftovers(); len(left) > 0 {
		t.Errorf("left behind after a failed Start: %v", left)
	}
}

// TestPreflightNamesWhatIsMissing: a bin directory without the node's binaries is refused with
// each missing file named and the command that builds it.
func TestPreflightNamesWhatIsMissing(t *testing.T) {
	node.Require(t, repoRoot(t))
	_, err := node.Preflight(t.TempDir())
	if err == nil {
		t.Fatal("Preflight accepted an empty bin directory")
	}
	for _, b := range node.Binaries {
		if !strings.Contains(err.Error(), b+" is missing") {
			t.Errorf("the error does not name %s: %v", b, err)
		}
	}
	if !strings.Contains(err.Error(), "make node-bins") {
		t.Errorf("the error does not say how to build them: %v", err)
	}
}
