package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// proc is one component process, its output in logs/<name>.log.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

// startProc starts a component with the environment of this process minus the proxy variables,
// and bin/ first on PATH (containerd finds its shim there).
func (n *Node) startProc(name string, args ...string) (*proc, error) {
	f, err := os.Create(filepath.Join(n.paths.logs, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(n.bin(name), args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = n.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("node: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.procs = append(n.procs, p)
	return p, nil
}

func (n *Node) env() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(n.Host.ProxyVars, k) || k == "PATH"
	})
	return append(env, "PATH="+n.opts.BinDir+":"+os.Getenv("PATH"))
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.log.Close()
}

// waitFor polls check until it returns nil, the process exits, or timeout passes; the error
// then carries the end of the component's log.
func (n *Node) waitFor(ctx context.Context, p *proc, what string, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if p != nil && p.exited() {
			return fmt.Errorf("node: %s exited (%w) before %s:\n%s", p.name, p.err, what, n.Logs(p.name, 3000))
		}
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			name := "node"
			if p != nil {
				name = p.name
			}
			return fmt.Errorf("node: %s not %s after %s: %w:\n%s", name, what, timeout, last, n.Logs(name, 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func run(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			continue
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err == nil {
			_, _ = io.Copy(out, in)
			out.Close()
		}
		in.Close()
	}
	return nil
}
