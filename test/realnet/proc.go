package realnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/audit-io/wire-audit/internal/testenv"
)

// stopTimeout bounds how long a process may take to exit after its stop signal, before the
// harness kills its whole process group.
const stopTimeout = 10 * time.Second

// requireRoot skips the test unless it runs as root, which namespaces and the servers need.
func requireRoot(t TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Missing(t, "realnet: needs root for network namespaces (euid %d)", os.Geteuid())
	}
}

// lookPath returns the path of the first of names found on PATH or in extra directories, and
// skips the test when none is found.
func lookPath(t TB, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if strings.Contains(name, "/") {
			if _, err := os.Stat(name); err == nil {
				return name
			}
		}
	}
	testenv.Missing(t, "realnet: none of %v is installed", names)
	return ""
}

// proc is a process the harness started and will stop in a Cleanup.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{} // closed when Wait has returned; err is set then
	err  error
}

// startProc starts cmd in its own process group with output in a bounded buffer, and registers a
// Cleanup that sends sig, waits up to stopTimeout, then kills the group.
func startProc(t TB, name string, cmd *exec.Cmd, sig syscall.Signal) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, log: &logBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("realnet: start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { _ = p.stop(sig, stopTimeout) })
	return p
}

// stop signals the process, waits for it up to timeout, then kills its process group so that
// children (postgres backends) go too. It returns the error from Wait. It is safe to call twice.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(timeout):
		}
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return p.err
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitUntil calls check every interval until it succeeds, the process p (if any) exits, or
// timeout passes. It returns the last error from check.
func waitUntil(ctx context.Context, timeout, interval time.Duration, p *proc, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited (%w): %w", p.name, p.err, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", timeout, errors.Join(err, ctx.Err()))
		case <-time.After(interval):
		}
	}
}

// logBuffer keeps the last logLimit bytes of a process's output, for error messages.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const logLimit = 64 << 10

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(b)
	if over := l.buf.Len() - logLimit; over > 0 {
		l.buf.Next(over)
	}
	return len(b), nil
}

// String returns the kept output.
func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// tail returns the last n bytes of s, for error messages.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
