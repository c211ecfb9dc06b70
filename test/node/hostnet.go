package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// createBridge makes an empty bridge that carries addr (and addr6, when valid, usable at once),
// and brings it up.
func createBridge(name string, addr, addr6 netip.Prefix) error {
	cmds := [][]string{{"link", "add", name, "type", "bridge"}, {"addr", "add", addr.String(), "dev", name}}
	if addr6.IsValid() {
		cmds = append(cmds, []string{"addr", "add", addr6.String(), "dev", name, "nodad"})
	}
	for _, args := range append(cmds, []string{"link", "set", name, "up"}) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("node: ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func deleteLink(name string) error {
	if _, err := os.Stat(filepath.Join("/sys/class/net", name)); err != nil {
		return nil
	}
	if out, err := exec.Command("ip", "link", "delete", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link delete %s: %w: %s", name, err, out)
	}
	return nil
}

// cgroupDirs are the directories of cgroup root under every hierarchy.
func cgroupDirs(h *Host, root string) []string {
	if h == nil {
		return nil
	}
	if h.CgroupV2 {
		return []string{filepath.Join("/sys/fs/cgroup", root)}
	}
	var out []string
	for _, mp := range h.V1Hierarchies {
		out = append(out, filepath.Join(mp, root))
	}
	return out
}

// createCgroupRoot makes the kubelet's cgroupRoot in every hierarchy: with the cgroupfs driver
// the kubelet creates its children but expects the root to exist.
func createCgroupRoot(h *Host, root string) error {
	for _, d := range cgroupDirs(h, root) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("node: cgroup %s: %w", d, err)
		}
	}
	if h.CgroupV2 {
		// Hand every controller the parent has down to the root, as systemd does for a slice.
		b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		if err != nil {
			return fmt.Errorf("node: cgroup v2 controllers: %w", err)
		}
		var enable []string
		for c := range strings.FieldsSeq(string(b)) {
			enable = append(enable, "+"+c)
		}
		_ = os.WriteFile(filepath.Join("/sys/fs/cgroup", root, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644)
	}
	return nil
}

// cgroupPIDs lists every process in the cgroup tree of root.
func cgroupPIDs(h *Host, root string) []int {
	var out []int
	for _, d := range cgroupDirs(h, root) {
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(p)
			for f := range strings.FieldsSeq(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// removeCgroupRoot removes the tree of root, children first (a cgroup is removed with rmdir
// once it has no processes).
func removeCgroupRoot(h *Host, root string) error {
	var errs []error
	for _, d := range cgroupDirs(h, root) {
		var dirs []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			var err error
			for range 20 { // a process killed a moment ago may still be leaving
				if err = unix.Rmdir(dirs[i]); err == nil || errors.Is(err, unix.ENOENT) {
					err = nil
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// unmountUnder detaches every mount at or below dir, deepest first: the kubelet's volumes,
// containerd's snapshots and rootfs, and the pods' network namespaces.
func unmountUnder(dir string) error {
	var errs []error
	for range 5 {
		mps := mountsUnder(dir)
		if len(mps) == 0 {
			return nil
		}
		slices.SortFunc(mps, func(a, b string) int { return len(b) - len(a) })
		for _, mp := range mps {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("umount %s: %w", mp, err))
			}
		}
	}
	if mps := mountsUnder(dir); len(mps) > 0 {
		errs = append(errs, fmt.Errorf("still mounted: %s", strings.Join(mps, ", ")))
	}
	return errors.Join(errs...)
}

func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// chainPrefixes name the iptables chains a node adds: the kubelet's and kube-proxy's KUBE-*,
// and portmap's CNI-*.
var chainPrefixes = []string{"KUBE-", "CNI-"}

// ourChain says whether an iptables chain is one a node adds.
func ourChain(chain string) bool {
	for _, p := range chainPrefixes {
		if strings.HasPrefix(chain, p) {
			return true
		}
	}
	return false
}

// sweepChains removes every KUBE-* and CNI-* chain of the filter, nat and mangle tables, IPv4
// and IPv6, with the rules that jump to them. Only one node runs at a time (the lock), and no
// other part of this project adds such chains.
func sweepChains() error {
	var errs []error
	for _, tool := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle"} {
			errs = append(errs, sweepTable(tool, table))
		}
	}
	return errors.Join(errs...)
}

func sweepTable(tool, table string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, tool, "-w", "5", "-t", table, "-S").Output()
	if err != nil {
		return nil // the table does not exist here
	}
	var chains []string
	var errs []error
	for line := range strings.SplitSeq(string(out), "\n") {
		f := splitRule(line)
		switch {
		case len(f) >= 2 && f[0] == "-N" && ourChain(f[1]):
			chains = append(chains, f[1])
		case len(f) >= 2 && f[0] == "-A" && !ourChain(f[1]) && jumpsToOurs(f):
			// A rule in a built-in chain that jumps to one of ours: delete it by its spec.
			args := append([]string{"-w", "5", "-t", table, "-D"}, f[1:]...)
			if b, err := exec.CommandContext(ctx, tool, args...).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, b))
			}
		}
	}
	for _, op := range []string{"-F", "-X"} {
		for _, c := range chains {
			if b, err := exec.CommandContext(ctx, tool, "-w", "5", "-t", table, op, c).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s -t %s %s %s: %w: %s", tool, table, op, c, err, b))
			}
		}
	}
	return errors.Join(errs...)
}

func jumpsToOurs(f []string) bool {
	for i, x := range f {
		if (x == "-j" || x == "-g") && i+1 < len(f) && ourChain(f[i+1]) {
			return true
		}
	}
	return false
}

// splitRule splits a line of `iptables -S` into arguments; comments are double-quoted.
func splitRule(line string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case c == ' ' && !inQuote:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}
