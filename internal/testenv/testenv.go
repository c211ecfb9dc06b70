// Package testenv decides what a test does when the machine lacks something it needs (root, a
// Debian package, a built binary): skip on a developer's machine, fail in CI. .ci/run sets
// RequireEnv, because there every tool is installed first and a skip would hide a test that
// never ran.
package testenv

import (
	"fmt"
	"os"
)

// RequireEnv is the environment variable that turns Missing into a failure when it is "1".
const RequireEnv = "WIRE_AUDIT_REQUIRE_ALL"

// TB is the part of testing.TB that Missing uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

// Missing ends the test because something it needs is absent: it skips, or fails when
// RequireEnv is "1".
func Missing(t TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1: everything the tests need must be installed)", fmt.Sprintf(format, args...), RequireEnv)
		return
	}
	t.Skipf(format, args...)
}
