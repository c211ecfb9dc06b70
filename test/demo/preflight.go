package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/audit-io/wire-audit/test/node"
	"github.com/audit-io/wire-audit/test/nodeapp"
)

// missingError is something the machine lacks, with how to fix it.
type missingError struct{ msg string }

func (e *missingError) Error() string { return e.msg }

// preflight checks what the demo needs before it starts anything, so that a newcomer reads what
// is missing and how to fix it instead of a failure halfway through.
func preflight(ctx context.Context, repo string) error {
	var problems []string
	if _, err := node.Preflight(filepath.Join(repo, "bin")); err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	problems = append(problems, nodeapp.Missing(repo)...)
	if _, err := exec.LookPath("go"); err != nil {
		problems = append(problems, "go is not on PATH: the demo builds its app image; install Go 1.26")
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
