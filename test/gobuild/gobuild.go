// Package gobuild builds this repository's binaries for tests, benchmarks and the demo, so that
// each binary is built one way everywhere: the webhook without cgo, as `make build` builds it for
// its image, the capture sidecar with cgo, which gopacket's afpacket needs.
package gobuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Go runs `go build [flags] -o out pkg` in the module at root, with env added to this process's
// environment. The error carries the compiler's output.
func Go(ctx context.Context, root, pkg, out string, env []string, flags ...string) error {
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// Webhook builds cmd/webhook into dir as its image does (no cgo), so that tests run what ships
// and share one build cache, and returns the binary's path.
func Webhook(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "webhook")
	return bin, Go(ctx, root, "./cmd/webhook", bin, []string{"CGO_ENABLED=0"})
}

// Capture builds cmd/capture into dir with cgo, as `make capture` does without the static
// linking, which changes nothing on this machine, and returns the binary's path.
func Capture(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "capture")
	return bin, Go(ctx, root, "./cmd/capture", bin, []string{"CGO_ENABLED=1"})
}
