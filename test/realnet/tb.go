package realnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
)

// TB is the part of testing.TB the harness uses. *testing.T and *testing.B satisfy it; Run gives
// programs such as cmd/loadpcap one outside go test.
type TB interface {
	Helper()
	Cleanup(func())
	Context() context.Context
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	TempDir() string
}

// ErrSkipped is returned by Run when the body skipped, for example because it was not root.
var ErrSkipped = errors.New("skipped")

// Run calls body with a TB for use outside go test: Fatalf and Skipf end the body's goroutine,
// cleanups run in reverse order afterwards, and logs go to logf. It returns the Fatalf message
// as an error, or an error wrapping ErrSkipped.
func Run(ctx context.Context, logf func(format string, args ...any), body func(TB)) error {
	r := &runner{ctx: ctx, logf: logf}
	r.goexitable(func() { body(r) })
	for f := r.pop(); f != nil; f = r.pop() {
		r.goexitable(f) // a cleanup that fails must not skip the others
	}
	return r.err
}

// goexitable runs f on a goroutine of its own, so that Fatalf ends only f.
func (r *runner) goexitable(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

type runner struct {
	ctx      context.Context
	logf     func(format string, args ...any)
	mu       sync.Mutex
	cleanups []func()
	err      error
}

func (r *runner) Helper()                           {}
func (r *runner) Context() context.Context          { return r.ctx }
func (r *runner) Logf(format string, args ...any)   { r.logf(format, args...) }
func (r *runner) Cleanup(f func())                  { r.mu.Lock(); r.cleanups = append(r.cleanups, f); r.mu.Unlock() }
func (r *runner) Fatalf(format string, args ...any) { r.stop(fmt.Errorf(format, args...)) }
func (r *runner) Skipf(format string, args ...any) {
	r.stop(fmt.Errorf("%w: %s", ErrSkipped, fmt.Sprintf(format, args...)))
}

// stop records the first error and ends the calling goroutine, like testing's FailNow.
func (r *runner) stop(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *runner) TempDir() string {
	dir, err := os.MkdirTemp("", "realnet-")
	if err != nil {
		r.Fatalf("temp dir: %v", err)
	}
	r.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// pop takes the last cleanup registered, or returns nil.
func (r *runner) pop() func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.cleanups)
	if n == 0 {
		return nil
	}
	f := r.cleanups[n-1]
	r.cleanups = r.cleanups[:n-1]
	return f
}
