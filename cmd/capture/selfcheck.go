package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// tokenPath is where the ServiceAccount admission plugin would mount an API token; the webhook
// shadows it for the sidecar with an empty directory.
const tokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// procSecurity is the security state of one process, as the kernel reports it.
type procSecurity struct {
	CapEff     string `json:"capEff"`
	CapPrm     string `json:"capPrm"`
	CapBnd     string `json:"capBnd"`
	CapAmb     string `json:"capAmb"`
	NoNewPrivs string `json:"noNewPrivs"`
	Seccomp    string `json:"seccomp"`
	UID        string `json:"uid"`
}

// selfCheck is what `capture selfcheck` prints.
type selfCheck struct {
	// Sidecar is PID 1 of the container, the running sidecar; Self is this process, started
	// by `kubectl exec` into the same container.
	Sidecar procSecurity `json:"sidecar"`
	Self    procSecurity `json:"self"`
	// RootReadOnly is true when creating a file in / fails with EROFS.
	RootReadOnly bool `json:"rootReadOnly"`
	// ServiceAccountToken is true when an API token is mounted at tokenPath.
	ServiceAccountToken bool `json:"serviceAccountToken"`
}

// runSelfCheck is `capture selfcheck`: run inside the sidecar's container (kubectl exec), it
// prints the capabilities, no_new_privs and seccomp mode of the sidecar and of itself, whether
// the root filesystem is read-only and whether an API token is mounted, as JSON. The image has
// no shell, so this is how a user (and the node test) checks the security context as applied.
func runSelfCheck(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("selfcheck: unexpected arguments %q", args)
	}
	var sc selfCheck
	var err error
	if sc.Sidecar, err = readSecurity("/proc/1/status"); err != nil {
		return err
	}
	if sc.Self, err = readSecurity("/proc/self/status"); err != nil {
		return err
	}
	f, err := os.CreateTemp("/", ".selfcheck-")
	switch {
	case err == nil:
		f.Close()
		_ = os.Remove(f.Name())
	case errors.Is(err, syscall.EROFS):
		sc.RootReadOnly = true
	}
	if _, err := os.Stat(tokenPath); err == nil {
		sc.ServiceAccountToken = true
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(sc)
}

func readSecurity(path string) (procSecurity, error) {
	var p procSecurity
	f, err := os.Open(path)
	if err != nil {
		return p, fmt.Errorf("selfcheck: %w", err)
	}
	defer f.Close()
	fields := map[string]*string{"CapEff": &p.CapEff, "CapPrm": &p.CapPrm, "CapBnd": &p.CapBnd, "CapAmb": &p.CapAmb,
		"NoNewPrivs": &p.NoNewPrivs, "Seccomp": &p.Seccomp, "Uid": &p.UID}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if dst, found := fields[k]; ok && found {
			*dst = strings.TrimSpace(v)
		}
	}
	return p, sc.Err()
}
