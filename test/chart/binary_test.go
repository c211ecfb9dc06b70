package chart

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/audit-io/wire-audit/test/gobuild"
)

// The webhook binary of this repository, built once for the package's tests.
var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// webhookBinary builds ./cmd/webhook (once) and returns its path.
func webhookBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "wire-audit-chart-"); buildErr != nil {
			return
		}
		_, buildErr = gobuild.Webhook(context.Background(), "../..", buildDir)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "webhook")
}

// webhookFlags returns every flag of the webhook binary with its default as -h prints it
// ("" when it prints none).
func webhookFlags(t *testing.T) map[string]string {
	t.Helper()
	out, _ := exec.Command(webhookBinary(t), "-h").CombinedOutput() // -h exits 0 or 2 by Go version
	flags := map[string]string{}
	var last string
	for line := range strings.SplitSeq(string(out), "\n") {
		if name, ok := strings.CutPrefix(line, "  -"); ok {
			last = strings.Fields(name)[0]
			flags[last] = ""
			continue
		}
		if _, def, ok := strings.Cut(line, "(default "); ok && last != "" {
			flags[last] = strings.Trim(strings.TrimSuffix(strings.TrimSpace(def), ")"), `"`)
		}
	}
	if _, ok := flags["cert-mode"]; !ok {
		t.Fatalf("webhook -h lists no --cert-mode; its output:\n%s", out)
	}
	return flags
}
