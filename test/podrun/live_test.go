package podrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/audit-io/wire-audit/test/realnet"
)

// helperEnv in the container's env makes the test binary play the sidecar: it reports what the
// kernel says about its credentials, environment and mounts, serves the startup probe, and exits
// 0 on SIGTERM.
const helperEnv = "PODRUN_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// report is what the helper saw.
type report struct {
	Status  map[string]string // from /proc/self/status
	Env     []string
	Args    []string
	WriteFS map[string]string // path -> error of creating a file there ("" when it worked)
	Wd      string
}

// helper plays the sidecar. mode "report" behaves; "exit-early" exits 2 before serving the
// probe; "ignore-term" ignores SIGTERM; "fail-term" exits 3 on SIGTERM.
func helper(mode string) int {
	if mode == "exit-early" {
		return 2
	}
	r := report{Status: map[string]string{}, Env: os.Environ(), Args: os.Args[1:], WriteFS: map[string]string{}}
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			r.Status[k] = strings.TrimSpace(v)
		}
	}
	r.Wd, _ = os.Getwd()
	for _, a := range r.Args {
		if dir, ok := strings.CutPrefix(a, "--writable="); ok {
			r.WriteFS[dir] = tryWrite(dir)
		}
	}
	r.WriteFS["/"] = tryWrite("/")
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	if mode == "ignore-term" {
		signal.Ignore(syscall.SIGTERM)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
	srv := &http.Server{Addr: "127.0.0.1:15099", Handler: mux, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.ListenAndServe() }()
	<-sig
	_ = srv.Close()
	if mode == "fail-term" {
		return 3
	}
	return 0
}

func tryWrite(dir string) string {
	f, err := os.CreateTemp(dir, "podrun-probe-")
	if err != nil {
		return err.Error()
	}
	_ = f.Close()
	_ = os.Remove(f.Name())
	return ""
}

// TestStartLive runs the rendered plain pod's sidecar with this test binary standing in for the
// image, in a network namespace, and checks what the kernel gave the process: uid 0, only
// NET_ADMIN and NET_RAW in the bounding and effective sets, nothing inheritable or ambient,
// no_new_privs, a read-only root and read-only volume mounts, and exactly the container's env.
func TestStartLive(t *testing.T) {
	pair := realnet.NewPair(t)
	s, o := helperSidecar(t, "report", func(c *corev1.Container) {
		c.Args = append(c.Args, "--writable=/etc/audit-capture", "--writable=/var/run/secrets/kubernetes.io/serviceaccount")
	})
	p, r := runReport(t, pair, s)
	const netAdminRaw = "0000000000003000" // bits 12 and 13
	checkStatus(t, r, map[string]string{
		"CapBnd": netAdminRaw, "CapEff": netAdminRaw, "CapPrm": netAdminRaw, "CapInh": "0000000000000000",
		"CapAmb": "0000000000000000", "NoNewPrivs": "1", "Uid": "0\t0\t0\t0", "Gid": "0\t0\t0\t0", "Groups": "",
	})
	if !slices.Equal(slices.Sorted(slices.Values(r.Env)), slices.Sorted(slices.Values(s.Env))) {
		t.Errorf("environment %q, want exactly %q", r.Env, s.Env)
	}
	if r.Wd != "/" {
		t.Errorf("working directory %q", r.Wd)
	}
	for _, dir := range []string{"/", "/etc/audit-capture", "/var/run/secrets/kubernetes.io/serviceaccount"} {
		local := dir
		if l, ok := s.Mounts[dir]; ok {
			local = l
		}
		if !strings.Contains(r.WriteFS[local], "read-only file system") {
			t.Errorf("writing to %s (%s): %q, want a read-only file system", dir, local, r.WriteFS[local])
		}
	}
	// The mounts were made in the process's own mount namespace: the host's stay writable.
	if err := os.WriteFile(filepath.Join(o.Dir, "audit-capture-no-token", "x"), nil, 0o600); err != nil {
		t.Errorf("the host sees the volume read-only too: %v", err)
	}
	if err := p.Stop(time.Second); err == nil || errors.Is(err, ErrNotStopped) {
		t.Errorf("second Stop: %v, want an error saying it had exited", err)
	}
}

// TestStartLiveNonRoot: with a non-root uid the same capabilities stay in the bounding set but
// the process has none, as in Kubernetes, which has no ambient capabilities; this is why the
// webhook renders runAsUser 0.
func TestStartLiveNonRoot(t *testing.T) {
	pair := realnet.NewPair(t)
	// The test binary's build directory is private to root; uid 65532 needs a copy it can run.
	dir, err := os.MkdirTemp("", "podrun-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "helper")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, _ := helperSidecar(t, "report", func(c *corev1.Container) {
		c.SecurityContext.RunAsUser, c.SecurityContext.RunAsGroup = new(int64(65532)), new(int64(65532))
	})
	s.Argv[0] = bin
	_, r := runReport(t, pair, s)
	checkStatus(t, r, map[string]string{
		"CapBnd": "0000000000003000", "CapEff": "0000000000000000", "CapPrm": "0000000000000000",
		"CapAmb": "0000000000000000", "NoNewPrivs": "1", "Uid": "65532\t65532\t65532\t65532", "Gid": "65532\t65532\t65532\t65532",
	})
}

// runReport starts a helper sidecar, waits for its probe, stops it and returns its report.
func runReport(t *testing.T, pair *realnet.Pair, s *Sidecar) (*Process, report) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	p, err := s.Start(t.Context(), pair.PodNS, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := p.WaitReady(ctx); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("helper report %q: %v\n%s", stdout.String(), err, stderr.String())
	}
	return p, r
}

func checkStatus(t *testing.T, r report, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if r.Status[k] != w {
			t.Errorf("/proc/self/status %s: %q, want %q", k, r.Status[k], w)
		}
	}
}

// helperSidecar resolves the plain golden pod with this test binary standing in for the image,
// in helper mode, after edit changes its container.
func helperSidecar(t *testing.T, mode string, edit func(*corev1.Container)) (*Sidecar, Options) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pod := golden(t, "plain")
	c := &pod.Spec.InitContainers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: helperEnv, Value: mode})
	if edit != nil {
		edit(c)
	}
	o := opts(t)
	o.Binaries = map[string]string{image: self}
	s, err := Resolve(pod, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

// TestProcessFailures: a sidecar that exits before its probe passes, one that ignores SIGTERM
// and one that exits non-zero on it are each reported, not taken for a clean stop.
func TestProcessFailures(t *testing.T) {
	pair := realnet.NewPair(t)
	for _, tc := range []struct {
		mode, want string
		stop       bool
	}{
		{"exit-early", "exited before its startup probe passed: exit status 2", false},
		{"ignore-term", ErrNotStopped.Error(), true},
		{"fail-term", "exited after SIGTERM: exit status 3", true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			s, _ := helperSidecar(t, tc.mode, nil)
			var out bytes.Buffer
			p, err := s.Start(t.Context(), pair.PodNS, &out, &out)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Kill)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err = p.WaitReady(ctx)
			if tc.stop {
				if err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				err = p.Stop(500 * time.Millisecond)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
