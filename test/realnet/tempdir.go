package realnet

import (
	"os"
)

// shortTempDir makes a directory under os.TempDir with a short path, because unix socket paths
// must fit 108 bytes and t.TempDir paths carry the test name. It is world-traversable, so a
// server that runs as another user can reach what it creates inside, and removed in a Cleanup.
func shortTempDir(t TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("realnet: temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("realnet: temp dir: %v", err)
	}
	return dir
}
