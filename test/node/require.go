package node

import (
	"path/filepath"

	"github.com/audit-io/wire-audit/internal/testenv"
)

// Require ends the test (a skip, or a failure in CI) when this machine cannot run a node, with
// the reason Preflight gives.
func Require(t testenv.TB, repoRoot string) {
	t.Helper()
	if _, err := Preflight(filepath.Join(repoRoot, "bin")); err != nil {
		testenv.Missing(t, "%v", err)
	}
}
