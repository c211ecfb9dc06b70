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
	if os.Getenv(helperEnv) == "1" {
		os.Exit(helper())
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

func helper() int {
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
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(http.ResponseWriter, *http.Request) {})
	srv := &http.Server{Addr: "127.0.0.1:15099", Handler: mux, ReadHeaderTimeout: time.Second}
	go func() { _ = srv.ListenAndServe() }()
	<-sig
	_ = srv.Close()
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
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pod := golden(t, "plain")
	c := &pod.Spec.InitContainers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: helperEnv, Value: "1"})
	c.Args = append(c.Args, "--writable=/etc/audit-capture", "--writable=/var/run/secrets/kubernetes.io/serviceaccount")
	o := opts(t)
	o.Binaries = map[string]string{image: self}
	s, err := Resolve(pod, o)
	if err != nil {
		t.Fatal(err)
	}
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
	const netAdminRaw = "0000000000003000" // bits 12 and 13
	for k, want := range map[string]string{
		"CapBnd": netAdminRaw, "CapEff": netAdminRaw, "CapPrm": netAdminRaw, "CapInh": "0000000000000000",
		"CapAmb": "0000000000000000", "NoNewPrivs": "1", "Uid": "0\t0\t0\t0", "Gid": "0\t0\t0\t0", "Groups": "",
	} {
		if r.Status[k] != want {
			t.Errorf("/proc/self/status %s: %q, want %q", k, r.Status[k], want)
		}
	}
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
