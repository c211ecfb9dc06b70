package realnet_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/audit-io/wire-audit/test/realnet"
)

func TestRun(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		body    func(realnet.TB, *[]string)
		wantErr string // "", "skip", or the Fatalf message
		want    string
	}{
		{"passes", func(t realnet.TB, log *[]string) {
			t.Cleanup(func() { *log = append(*log, "first") })
			t.Cleanup(func() { *log = append(*log, "second") })
		}, "", "[second first]"},
		{"fatal stops the body and cleans up", func(t realnet.TB, log *[]string) {
			t.Cleanup(func() { *log = append(*log, "cleaned") })
			t.Fatalf("boom")
			*log = append(*log, "after fatal")
		}, "boom", "[cleaned]"},
		{"skip", func(t realnet.TB, log *[]string) {
			t.Cleanup(func() { *log = append(*log, "cleaned") })
			t.Skipf("not here")
		}, "skip", "[cleaned]"},
		{"a failing cleanup runs the others", func(t realnet.TB, log *[]string) {
			t.Cleanup(func() { *log = append(*log, "last") })
			t.Cleanup(func() { t.Fatalf("boom") })
		}, "boom", "[last]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			err := realnet.Run(context.Background(), t.Logf, func(tb realnet.TB) { tc.body(tb, &log) })
			var ok bool
			switch tc.wantErr {
			case "":
				ok = err == nil
			case "skip":
				ok = errors.Is(err, realnet.ErrSkipped)
			default:
				ok = err != nil && err.Error() == tc.wantErr
			}
			if !ok {
				t.Errorf("Run returned %v, want %q", err, tc.wantErr)
			}
			if got := fmt.Sprint(log); got != tc.want {
				t.Errorf("ran %s, want %s", got, tc.want)
			}
		})
	}
}
