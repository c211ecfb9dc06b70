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
		wantErr error // nil, realnet.ErrSkipped, or errBody for a Fatalf
		want    string
	}{
		{"passes", func(t realnet.TB, log *[]string) {
			t.Cleanup(func() { *log = append(*log, "first") })
			t.Cleanup(func() { *log = append(*log, "second") })
		}, nil, "[second first]"},
		{"fatal stops the body and cleans up", func(t realnet.TB, log *[]string) {
			t.Cleanup(func() { *log = append(*log, "cleaned") })
			t.Fatalf("boom")
			*log = append(*log, "after fatal")
		}, errBody, "[cleaned]"},
		{"skip", func(t realnet.TB, log *[]string) {
			t.Cleanup(func() { *log = append(*log, "cleaned") })
			t.Skipf("not here")
		}, realnet.ErrSkipped, "[cleaned]"},
		{"a failing cleanup runs the others", func(t realnet.TB, log *[]string) {
			t.Cleanup(func() { *log = append(*log, "last") })
			t.Cleanup(func() { t.Fatalf("boom") })
		}, errBody, "[last]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			err := realnet.Run(context.Background(), t.Logf, func(tb realnet.TB) { tc.body(tb, &log) })
			switch {
			case tc.wantErr == nil && err != nil,
				tc.wantErr == realnet.ErrSkipped && !errors.Is(err, realnet.ErrSkipped),
				tc.wantErr == errBody && (err == nil || err.Error() != "boom"):
				t.Errorf("Run returned %v, want %v", err, tc.wantErr)
			}
			if got := fmt.Sprint(log); got != tc.want {
				t.Errorf("ran %s, want %s", got, tc.want)
			}
		})
	}
}

// errBody stands for the error of a Fatalf("boom").
var errBody = errors.New("boom")
