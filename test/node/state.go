package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stateGlob finds the state directories of every node, live or crashed.
const stateGlob = "/var/tmp/wa-node-*"

// state is what a node made on the host, written to Dir/state.json before it is made, so that
// Stop, or the next Start after a crash, can remove it by name.
type state struct {
	Dir        string `json:"dir"`
	OwnerPID   int    `json:"ownerPID"`
	NodeBridge string `json:"nodeBridge"`
	PodBridge  string `json:"podBridge"`
	CgroupRoot string `json:"cgroupRoot"`
}

func newState() (*state, error) {
	// Short, so that unix socket paths under it stay within 108 bytes.
	dir, err := os.MkdirTemp("/var/tmp", "wa-node-")
	if err != nil {
		return nil, fmt.Errorf("node: state directory: %w", err)
	}
	id := strconv.Itoa(os.Getpid() % 100000)
	return &state{
		Dir: dir, OwnerPID: os.Getpid(),
		// Link names are at most 15 bytes.
		NodeBridge: "wanode" + id, PodBridge: "wapod" + id,
		CgroupRoot: "/" + filepath.Base(dir),
	}, nil
}

func (s *state) save() error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "state.json"), b, 0o600)
}

// sweepLeftovers removes the nodes whose owner process is gone (a test binary that was killed).
func sweepLeftovers(log io.Writer) {
	dirs, _ := filepath.Glob(stateGlob)
	for _, dir := range dirs {
		var s state
		b, err := os.ReadFile(filepath.Join(dir, "state.json"))
		if err == nil {
			err = json.Unmarshal(b, &s)
		}
		if err != nil || s.Dir != dir {
			// Made but never recorded: nothing outside the directory exists yet.
			s = state{Dir: dir}
		}
		if s.OwnerPID != 0 && s.OwnerPID != os.Getpid() && syscall.Kill(s.OwnerPID, 0) == nil {
			continue
		}
		fmt.Fprintf(log, "node: removing the leftovers of a crashed node in %s\n", dir)
		if err := s.teardown(detectCgroups(), ""); err != nil {
			fmt.Fprintf(log, "node: cleanup of %s: %v\n", dir, err)
		}
	}
}

// teardown kills every process that belongs to the node (by the state directory in its
// command line, and by its cgroups), then unmounts, and removes links, cgroups, iptables chains
// and the directory.
func (s *state) teardown(h *Host, binDir string) error {
	var errs []error
	// Container processes, and the shims containerd started (they carry the socket path in
	// their arguments); then anything else still running from the state directory.
	for range 3 {
		pids := slices.Concat(cgroupPIDs(h, s.CgroupRoot), pidsMentioning(s.Dir))
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(300 * time.Millisecond)
	}
	errs = append(errs, unmountUnder(s.Dir))
	if s.CgroupRoot != "" {
		errs = append(errs, removeCgroupRoot(h, s.CgroupRoot))
	}
	for _, l := range []string{s.NodeBridge, s.PodBridge} {
		if l != "" {
			errs = append(errs, deleteLink(l))
		}
	}
	if binDir != "" {
		// kube-proxy removes its own rules; the sweep below catches the rest.
		_ = exec.Command(filepath.Join(binDir, "kube-proxy"), "--cleanup").Run()
	}
	errs = append(errs, sweepChains())
	errs = append(errs, removeCNICache(filepath.Base(s.Dir)))
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", s.Dir, err))
	}
	return errors.Join(errs...)
}

// pidsMentioning lists the processes whose command line names a path inside directory dir
// (never this one). The trailing slash keeps /var/tmp/wa-node-12 from matching wa-node-123.
func pidsMentioning(dir string) []int {
	if dir == "" {
		return nil
	}
	s := strings.TrimSuffix(dir, "/") + "/"
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, pid)
		}
	}
	return out
}

// Leftovers lists what any node made and is still on this machine: state directories,
// bridges, cgroup roots and KUBE-*/CNI-* iptables chains. Empty when no node runs.
func Leftovers() []string {
	out, _ := filepath.Glob(stateGlob)
	cache, _ := filepath.Glob(filepath.Join(cniCache, "wa-node-*"))
	out = append(out, cache...)
	links, _ := filepath.Glob("/sys/class/net/wa*")
	for _, l := range links {
		if b := filepath.Base(l); strings.HasPrefix(b, "wanode") || strings.HasPrefix(b, "wapod") {
			out = append(out, "link "+b)
		}
	}
	for _, d := range cgroupDirs(detectCgroups(), "wa-node-*") {
		m, _ := filepath.Glob(d)
		out = append(out, m...)
	}
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			b, err := exec.Command(tool, "-w", "5", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			for line := range strings.SplitSeq(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "-N" && ourChain(f[1]) {
					out = append(out, tool+" -t "+table+" chain "+f[1])
				}
			}
		}
	}
	return out
}

// cniCache is where libcni keeps each attachment's result, outside containerd's state: pods
// killed at Stop never had their CNI DEL, so their entries are removed here.
const cniCache = "/var/lib/cni/results"

// removeCNICache removes the cached results of network (the node's network is named after its
// state directory): <network>-<sandbox>-eth0, and the loopback's cni-loopback-<sandbox>-lo.
func removeCNICache(network string) error {
	files, _ := filepath.Glob(filepath.Join(cniCache, network+"-*"))
	var errs []error
	for _, f := range files {
		id := strings.TrimPrefix(filepath.Base(f), network+"-")
		if i := strings.LastIndexByte(id, '-'); i > 0 {
			id = id[:i]
		}
		for _, p := range []string{f, filepath.Join(cniCache, "cni-loopback-"+id+"-lo")} {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
