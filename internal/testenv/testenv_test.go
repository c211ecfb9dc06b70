package testenv

import (
	"fmt"
	"testing"
)

type recorder struct{ skipped, failed string }

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }

func TestMissing(t *testing.T) {
	for _, tc := range []struct {
		name, env    string
		skip, failed bool
	}{
		{name: "developer machine", env: "", skip: true},
		{name: "CI", env: "1", failed: true},
		{name: "other value", env: "yes", skip: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.env)
			var r recorder
			Missing(&r, "no %s", "tshark")
			if (r.skipped != "") != tc.skip || (r.failed != "") != tc.failed {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", r.skipped, r.failed, tc.skip, tc.failed)
			}
			if got := r.skipped + r.failed; len(got) < len("no tshark") || got[:9] != "no tshark" {
				t.Fatalf("message %q does not start with the reason", got)
			}
		})
	}
}
