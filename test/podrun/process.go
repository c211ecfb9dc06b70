package podrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/audit-io/wire-audit/test/realnet"
)

// probe records the startup probe's URL: httpGet on the pod IP (Options.PodIP, else
// 127.0.0.1), with a named port looked up in the container's ports.
func (s *Sidecar) probe(c *corev1.Container, path, podIP string) error {
	p := c.StartupProbe
	if p == nil {
		return nil
	}
	field := path + ".startupProbe"
	if p.HTTPGet == nil {
		return fieldErr(field, "only httpGet probes are supported")
	}
	g := p.HTTPGet
	port := g.Port.IntValue()
	if g.Port.Type == intstr.String {
		for _, cp := range c.Ports {
			if cp.Name == g.Port.StrVal {
				port = int(cp.ContainerPort)
			}
		}
	}
	if port <= 0 || port > 65535 {
		return fieldErr(field+".httpGet.port", "invalid value %q", g.Port.String())
	}
	host := g.Host
	if host == "" {
		host = cmpOr(podIP, "127.0.0.1")
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	if scheme != "http" {
		return fieldErr(field+".httpGet.scheme", "only HTTP is supported")
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	s.Probe = u.String()
	period, failures := int32(10), int32(3) // the Kubernetes defaults
	if p.PeriodSeconds > 0 {
		period = p.PeriodSeconds
	}
	if p.FailureThreshold > 0 {
		failures = p.FailureThreshold
	}
	s.ProbeTimeout = int(period * failures)
	return nil
}

// Process is a running sidecar.
type Process struct {
	s    *Sidecar
	ns   string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs the sidecar in network namespace netns (a name under /run/netns) as
// `ip netns exec NS sh -c MOUNTS setpriv FLAGS -- BINARY ARGS`, with exactly the variables of
// s.Env and no inherited one (sh may reorder them, and its PWD is unset). In the mount namespace that `ip netns exec` makes, each volume directory
// is bind-mounted onto itself (read-only when the volumeMount says so) and, with
// readOnlyRootFilesystem, the root mount is remounted read-only; nothing leaks to the host.
// The process's pid is that of the binary itself, since every step execs the next.
func (s *Sidecar) Start(ctx context.Context, netns string, stdout, stderr io.Writer) (*Process, error) {
	tools, err := lookTools("ip:iproute2", "setpriv:util-linux", "mount:util-linux", "sh:dash")
	if err != nil {
		return nil, err
	}
	ip, sp, mount, sh := tools[0], tools[1], tools[2], tools[3]
	args := []string{"netns", "exec", netns, sh, "-ec", s.mountScript(mount) + "unset PWD\n" + `exec "$@"`, "sh", sp}
	args = append(append(args, s.Setpriv...), s.Argv...)
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Env = slices.Clone(s.Env)
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = s.WorkDir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("podrun: start %s: %w", s.Container.Name, err)
	}
	p := &Process{s: s, ns: netns, cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// lookTools finds each "command:package" on PATH.
func lookTools(names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		cmd, pkg, _ := strings.Cut(n, ":")
		p, err := exec.LookPath(cmd)
		if err != nil {
			return nil, fmt.Errorf("podrun: %s (Debian package %s) is needed: %w", cmd, pkg, err)
		}
		out[i] = p
	}
	return out, nil
}

// mountScript is the shell that sets up the container's mounts before setpriv runs.
func (s *Sidecar) mountScript(mount string) string {
	mount = shellQuote(mount)
	var b strings.Builder
	for _, m := range s.Container.VolumeMounts {
		local, ok := s.Mounts[filepath.Clean(m.MountPath)]
		if !ok {
			continue
		}
		q := shellQuote(local)
		b.WriteString(mount + " --bind " + q + " " + q + "\n")
		if m.ReadOnly {
			b.WriteString(mount + " -o remount,bind,ro " + q + "\n")
		}
	}
	if s.ReadOnlyRoot {
		b.WriteString(mount + " -o remount,bind,ro /\n")
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Pid is the sidecar's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// ErrNotStopped is returned by Stop when the process outlived the timeout; it is then killed.
var ErrNotStopped = errors.New("podrun: the process did not exit within the timeout after SIGTERM")

// Stop sends SIGTERM, as the kubelet does, and waits up to timeout. It returns ErrNotStopped
// (after SIGKILL) if the process did not exit in time, and the exit error if it exited non-zero.
func (p *Process) Stop(timeout time.Duration) error {
	if done, err := p.Exited(); done {
		return fmt.Errorf("podrun: %s had already exited: %w", p.s.Container.Name, errOrZero(err))
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("podrun: SIGTERM: %w", err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("podrun: %s exited after SIGTERM: %w", p.s.Container.Name, p.err)
		}
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%w (%s)", ErrNotStopped, timeout)
	}
}

func errOrZero(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}

// Kill ends the process at once, for cleanups; it is a no-op once the process has exited.
func (p *Process) Kill() {
	if done, _ := p.Exited(); !done {
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// WaitReady polls the startup probe from inside the namespace until it answers 2xx or 3xx, as
// the kubelet's does. It fails when the process exits, when ctx ends, or after the probe's
// periodSeconds × failureThreshold. Without a startup probe it returns at once.
func (p *Process) WaitReady(ctx context.Context) error {
	if p.s.Probe == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(p.s.ProbeTimeout)*time.Second)
	defer cancel()
	dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = realnet.InNS(p.ns, func() error {
			c, err = (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.s.Probe, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 400 {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		if done, exitErr := p.Exited(); done {
			return fmt.Errorf("podrun: %s exited before its startup probe passed: %w", p.s.Container.Name, errOrZero(exitErr))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("podrun: startup probe %s not passed: %w (last: %w)", p.s.Probe, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
