package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// missingError is something the machine lacks, with how to fix it.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }

// preflight checks what the demo needs before it starts anything, so that a newcomer reads what
// is missing and how to fix it instead of a failure halfway through.
func preflight(ctx context.Context, repo string) error {
	var problems []string
	if os.Geteuid() != 0 {
		problems = append(problems, "not root: the demo creates network namespaces and runs the sidecar with the capabilities its securityContext grants; run it as root (sudo -E env PATH=\"$PATH\" make demo)")
	}
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		problems = append(problems, "KUBEBUILDER_ASSETS is not set: run `make envtest` to build kube-apiserver and etcd into bin/, then export KUBEBUILDER_ASSETS=$PWD/bin (make demo does both)")
	} else {
		for _, bin := range []string{"kube-apiserver", "etcd"} {
			if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
				problems = append(problems, fmt.Sprintf("%s is missing from KUBEBUILDER_ASSETS=%s: run `make envtest` (builds it from source, minutes on the first run)", bin, assets))
			}
		}
	}
	if _, err := exec.LookPath("go"); err != nil {
		problems = append(problems, "go is not on PATH: the demo builds the webhook (and the sidecar without -capture-binary); install Go 1.26")
	}
	// The package list lives in one place, the script that installs it.
	script := filepath.Join(repo, "hack", "ensure-packages.sh")
	if out, err := exec.CommandContext(ctx, script, "--check", "demo").CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = fmt.Sprintf("%s --check demo: %v", script, err)
		}
		problems = append(problems, msg)
	}
	if len(problems) == 0 {
		return nil
	}
	for i, p := range problems {
		problems[i] = strings.ReplaceAll(p, "\n", "\n    ")
	}
	return &missingError{msg: "the demo cannot start:\n  - " + strings.Join(problems, "\n  - ")}
}
