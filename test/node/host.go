package node

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Host is what Start found out about the machine before starting anything: the differences
// between machines that change how the node is configured. Nothing here is assumed.
type Host struct {
	// CgroupV2 is true on a unified (cgroup v2 only) hierarchy; false on v1 or hybrid, where
	// the kubelet's v1 support must be turned back on (failCgroupV1: false).
	CgroupV2 bool
	// V1Hierarchies are the mount points of the cgroup v1 hierarchies (cpu, memory, ...).
	V1Hierarchies []string
	// SysResource is whether CAP_SYS_RESOURCE is in the bounding set. Without it, no process
	// here can lower an oom_score_adj, which runc is asked to do for every sandbox, so
	// containerd must clamp the values (restrict_oom_score_adj) and the kubelet keep its own.
	SysResource bool
	// ProxyVars names the HTTP proxy variables of this environment, which are removed from
	// every component's environment: the API server would send webhook calls through them.
	ProxyVars []string
}

// capability numbers (linux/capability.h).
const (
	capNetAdmin    = 12
	capSysAdmin    = 21
	capSysResource = 24
)

// Preflight checks that this machine can run a node, and returns what differs from machine to
// machine. Each error names the missing piece and how to get it.
func Preflight(binDir string) (*Host, error) {
	var problems []error
	if os.Geteuid() != 0 {
		return nil, errors.New("node: must run as root (it mounts, creates links and cgroups, and runs containers): run as root, e.g. sudo -E env PATH=\"$PATH\" make test")
	}
	bnd, err := boundingSet()
	if err != nil {
		return nil, err
	}
	for _, c := range []struct {
		bit  uint
		name string
	}{{capSysAdmin, "CAP_SYS_ADMIN"}, {capNetAdmin, "CAP_NET_ADMIN"}} {
		if bnd&(1<<c.bit) == 0 {
			problems = append(problems, fmt.Errorf("node: %s is not in this process's bounding set: containers need it to mount and create network namespaces; run in a VM or a privileged container", c.name))
		}
	}
	h := &Host{SysResource: bnd&(1<<capSysResource) != 0}
	cg := detectCgroups()
	h.CgroupV2, h.V1Hierarchies = cg.CgroupV2, cg.V1Hierarchies
	if !h.CgroupV2 && len(h.V1Hierarchies) == 0 {
		problems = append(problems, errors.New("node: /sys/fs/cgroup is neither cgroup v2 nor holds cgroup v1 hierarchies: mount the cgroup controllers"))
	}
	for _, k := range []string{"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"} {
		if _, ok := os.LookupEnv(k); ok {
			h.ProxyVars = append(h.ProxyVars, k)
		}
	}
	for _, tool := range []struct{ cmd, pkg string }{
		{"iptables", "iptables"}, {"ip6tables", "iptables"}, {"iptables-save", "iptables"},
		{"ip", "iproute2"}, {"mount", "mount"}, {"nsenter", "util-linux"}, {"conntrack", "conntrack"},
	} {
		if _, err := exec.LookPath(tool.cmd); err != nil {
			problems = append(problems, fmt.Errorf("node: %s is not on PATH: install the Debian package %s (hack/ensure-packages.sh all does)", tool.cmd, tool.pkg))
		}
	}
	for _, b := range Binaries {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			problems = append(problems, fmt.Errorf("node: %s is missing: run `make node-bins` to build it from source into %s", b, binDir))
		}
	}
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		// Without br_netfilter, replies between two pods on the bridge skip the Service DNAT.
		problems = append(problems, errors.New("node: the br_netfilter module is not loaded (no /proc/sys/net/bridge): run modprobe br_netfilter"))
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		problems = append(problems, errors.New("node: this kernel has no network namespaces"))
	}
	if err := errors.Join(problems...); err != nil {
		return nil, err
	}
	return h, nil
}

// Binaries are the files under bin/ a node runs, as `make node-bins` builds them.
var Binaries = []string{
	"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "kubelet", "kubectl",
	"containerd", "containerd-shim-runc-v2", "ctr", "runc",
	"cni/bridge", "cni/host-local", "cni/loopback", "cni/portmap",
}

func boundingSet() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("node: no CapBnd in /proc/self/status")
}

// detectCgroups finds the cgroup layout: v2 (unified), or the v1 hierarchies.
func detectCgroups() *Host {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return &Host{CgroupV2: true}
	}
	hs, _ := v1Hierarchies()
	return &Host{V1Hierarchies: hs}
}

// v1Hierarchies lists the cgroup v1 mount points under /sys/fs/cgroup (named ones such as
// systemd included, the v2 "unified" mount of a hybrid host left out).
func v1Hierarchies() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		// ... mountpoint ... - fstype source superopts
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 1 || qf[0] != "cgroup" {
			continue
		}
		if mp := pf[4]; strings.HasPrefix(mp, "/sys/fs/cgroup/") {
			out = append(out, mp)
		}
	}
	return out, nil
}
