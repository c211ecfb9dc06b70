// Package integration runs the webhook binary against a real kube-apiserver and etcd. The API
// server calls the webhook over TLS through config/webhook/manifests.yaml.
package integration

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/audit-io/wire-audit/test/cluster"
)

var (
	shared     *cluster.Cluster
	sharedErr  error
	sharedOnce sync.Once
)

// TestMain owns the control plane, so that it is stopped even when a test fails.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

// getEnv starts the control plane and the webhook once per test binary.
func getEnv(tb testing.TB) *cluster.Cluster {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedErr = cluster.Start(cluster.Options{RepoRoot: "../.."}) })
	if sharedErr != nil {
		tb.Fatalf("start control plane and webhook: %v", sharedErr)
	}
	return shared
}

// admissions counts the webhook's admissions with one outcome ("" for all).
func admissions(tb testing.TB, c *cluster.Cluster, outcome string) float64 {
	tb.Helper()
	return counted(tb, c, "outcome", outcome)
}

// counted counts the webhook's admissions whose label has the given value.
func counted(tb testing.TB, c *cluster.Cluster, label, value string) float64 {
	tb.Helper()
	n, err := c.Admissions(label, value)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func namespace(tb testing.TB, c *cluster.Cluster, name string, labels map[string]string) string {
	tb.Helper()
	if err := c.Namespace(context.Background(), name, labels); err != nil {
		tb.Fatal(err)
	}
	return name
}
