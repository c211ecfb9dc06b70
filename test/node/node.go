// Package node starts a real single-node Kubernetes cluster on this machine, every part built
// from source by `make node-bins`: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kube-proxy and the kubelet, over containerd, runc and the CNI plugins bridge,
// host-local, loopback and portmap. Tests, benchmarks and `make demo` use it to run the chart,
// the images and the injected sidecar the way users do.
//
// A node owns a state directory, two bridges, a cgroup root and the iptables chains the
// kubelet, kube-proxy and portmap add; Stop removes all of them, and Start first removes what a
// crashed run left behind. Only one node runs on a machine at a time (the iptables chains are
// global); Start waits for the lock.
//
// Networking: the node's address (NodeIP) sits on a bridge of its own with no other member.
// Pods get addresses in PodCIDR on a second bridge, with routes only to the node's range and the
// Service range: no default route and no masquerade, so pods reach the node and nothing else.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/audit-io/wire-audit/test/freeport"
)

// Addresses of the node. They are fixed, and no other test uses them (realnet uses
// 10.231.0.0/24); the lock keeps two nodes apart.
var (
	// NodeIP is the node's InternalIP, where its servers and the API server listen.
	NodeIP = netip.MustParseAddr("10.234.0.1")
	// NodeIP6 is the node's IPv6 address, for servers that listen on both families.
	NodeIP6 = netip.MustParseAddr("fd00:234::1")
	// NodeNet is the range routed to the node from the pods.
	NodeNet = netip.MustParsePrefix("10.234.0.0/24")
	// PodCIDR is where pods get their addresses; PodGateway is the bridge's own address.
	PodCIDR    = netip.MustParsePrefix("10.235.0.0/24")
	PodGateway = netip.MustParseAddr("10.235.0.1")
	// ServiceCIDR is the ClusterIP range.
	ServiceCIDR = netip.MustParsePrefix("10.236.0.0/24")
)

// Name is the node's name in the cluster.
const Name = "wa-node"

// Options configure Start.
type Options struct {
	// RepoRoot is the repository's root, where the pause program is built from. Required.
	RepoRoot string
	// BinDir holds the binaries `make node-bins` builds. Default RepoRoot/bin.
	BinDir string
	// Images are image tarballs (docker save or OCI layout) imported into the node's
	// containerd before the kubelet starts, besides the pause image the node makes itself.
	Images []string
	// Log receives one line per step, with the time it took. Default: discarded.
	Log io.Writer
	// KeepLogs, when set, is a directory that receives each component's log at Stop.
	KeepLogs string
}

// Node is a running node.
type Node struct {
	// Config is an administrator's rest config (system:masters); Clients is made from it.
	Config  *rest.Config
	Clients *kubernetes.Clientset
	// Kubeconfig is the administrator's kubeconfig file, for kubectl and helm.
	Kubeconfig string
	// Host is what Preflight found.
	Host *Host
	// Ready is how long Start took, from its call to the node Ready.
	Ready time.Duration

	opts    Options
	st      *state
	procs   []*proc
	lock    *os.File
	log     io.Writer
	stepN   int
	start   time.Time
	ports   ports
	paths   paths
	certs   certs
	stopped sync.Once
}

type ports struct {
	etcd, etcdPeer, apiserver, kubelet, kubeletHealth, cm, scheduler, proxyHealth, proxyMetrics int
}

type paths struct {
	pki, containerdSock, containerdConf, kubeletConf, proxyConf, cniConf, logs string
	admin, kubeletKC, cmKC, schedKC, proxyKC                                   string
}

// steps is the number of steps Start reports.
const steps = 8

// Start checks the host, removes what a crashed node left, and starts a node; it returns once
// the node is Ready and the default ServiceAccount exists. On error everything it made is
// removed again.
func Start(ctx context.Context, opts Options) (n *Node, err error) {
	if opts.RepoRoot == "" {
		return nil, errors.New("node: Options.RepoRoot is required")
	}
	if opts.BinDir == "" {
		opts.BinDir = filepath.Join(opts.RepoRoot, "bin")
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.BinDir, err = filepath.Abs(opts.BinDir); err != nil {
		return nil, err
	}
	n = &Node{opts: opts, log: opts.Log, start: time.Now()}
	if n.Host, err = Preflight(opts.BinDir); err != nil {
		return nil, err
	}
	if n.lock, err = acquireLock(ctx); err != nil {
		return nil, err
	}
	n.step("host checked (cgroup v2: %v, CAP_SYS_RESOURCE: %v); leftovers of crashed nodes removed", n.Host.CgroupV2, n.Host.SysResource)
	sweepLeftovers(n.log)
	if n.st, err = newState(); err != nil {
		n.unlock()
		return nil, err
	}
	defer func() {
		if err != nil {
			n.Stop()
			n = nil
		}
	}()
	if err := n.setUpHost(); err != nil {
		return n, err
	}
	n.step("bridges %s (node %s) and %s (pods %s), cgroup root %s", n.st.NodeBridge, NodeIP, n.st.PodBridge, PodCIDR, n.st.CgroupRoot)
	if err := n.writeConfigs(); err != nil {
		return n, err
	}
	n.step("certificates and configs written to %s", n.st.Dir)
	if err := n.startComponents(ctx); err != nil {
		return n, err
	}
	n.Ready = time.Since(n.start)
	n.step("node %s Ready in %.1fs", Name, n.Ready.Seconds())
	return n, nil
}

func (n *Node) step(format string, args ...any) {
	n.stepN++
	fmt.Fprintf(n.log, "node: [%d/%d] %s (%.1fs)\n", min(n.stepN, steps), steps, fmt.Sprintf(format, args...), time.Since(n.start).Seconds())
}

func (n *Node) bin(name string) string { return filepath.Join(n.opts.BinDir, name) }

// setUpHost makes the bridges and cgroup roots and picks the ports.
func (n *Node) setUpHost() error {
	if err := n.st.save(); err != nil {
		return err
	}
	if err := createBridge(n.st.NodeBridge, netip.PrefixFrom(NodeIP, NodeNet.Bits()), netip.PrefixFrom(NodeIP6, 64)); err != nil {
		return err
	}
	// The pod bridge is made by the CNI bridge plugin at the first pod; making it here, with
	// the gateway address, lets Stop find and remove it by name either way.
	if err := createBridge(n.st.PodBridge, netip.PrefixFrom(PodGateway, PodCIDR.Bits()), netip.Prefix{}); err != nil {
		return err
	}
	if err := createCgroupRoot(n.Host, n.st.CgroupRoot); err != nil {
		return err
	}
	var err error
	pick := func() int {
		if err != nil {
			return 0
		}
		var p int
		p, err = freeport.Port(NodeIP)
		return p
	}
	n.ports = ports{etcd: pick(), etcdPeer: pick(), apiserver: pick(), kubelet: pick(), kubeletHealth: pick(),
		cm: pick(), scheduler: pick(), proxyHealth: pick(), proxyMetrics: pick()}
	return err
}

// APIServerURL is the API server's address.
func (n *Node) APIServerURL() string {
	return "https://" + net.JoinHostPort(NodeIP.String(), strconv.Itoa(n.ports.apiserver))
}

// StateDir is the node's state directory (containerd, kubelet, logs).
func (n *Node) StateDir() string { return n.st.Dir }

// Logs returns the tail of component name's log (etcd, kube-apiserver, containerd, kubelet, ...).
func (n *Node) Logs(name string, maxBytes int) string {
	b, err := os.ReadFile(filepath.Join(n.paths.logs, name+".log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	return string(b)
}

// Ctr runs `ctr -n k8s.io` against the node's containerd.
func (n *Node) Ctr(ctx context.Context, args ...string) (string, error) {
	return run(ctx, n.bin("ctr"), append([]string{"--address", n.paths.containerdSock, "-n", "k8s.io"}, args...)...)
}

// Kubectl runs the node's kubectl as the administrator.
func (n *Node) Kubectl(ctx context.Context, args ...string) (string, error) {
	return run(ctx, n.bin("kubectl"), append([]string{"--kubeconfig", n.Kubeconfig}, args...)...)
}

// ImportImage loads an image tarball into the node's containerd, where the kubelet finds it.
func (n *Node) ImportImage(ctx context.Context, tarball string) error {
	out, err := n.Ctr(ctx, "images", "import", "--no-unpack=false", tarball)
	if err != nil {
		return fmt.Errorf("node: import %s: %w: %s", tarball, err, out)
	}
	return nil
}

// Stop stops every process the node started and removes what it made: mounts, links,
// cgroups, iptables chains and the state directory. It is safe to call more than once.
func (n *Node) Stop() {
	n.stopped.Do(func() {
		// The kubelet first, so it does not restart containers; then the rest together (the
		// state is thrown away, so nothing needs an orderly shutdown).
		var wg sync.WaitGroup
		for i := len(n.procs) - 1; i >= 0; i-- {
			p := n.procs[i]
			if p.name == "kubelet" {
				p.stop(3 * time.Second)
				continue
			}
			wg.Go(func() { p.stop(3 * time.Second) })
		}
		wg.Wait()
		if n.st != nil {
			if n.opts.KeepLogs != "" {
				_ = copyDir(n.paths.logs, n.opts.KeepLogs)
			}
			if err := n.st.teardown(n.Host, n.opts.BinDir); err != nil {
				fmt.Fprintf(n.log, "node: cleanup: %v\n", err)
			}
		}
		n.unlock()
	})
}

func (n *Node) unlock() {
	if n.lock != nil {
		_ = syscall.Flock(int(n.lock.Fd()), syscall.LOCK_UN)
		_ = n.lock.Close()
		n.lock = nil
	}
}

// lockPath serialises nodes on this machine: the kubelet's and kube-proxy's iptables chains
// have fixed names.
const lockPath = "/run/wire-audit-node.lock"

func acquireLock(ctx context.Context) (*os.File, error) {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node: lock: %w", err)
	}
	for {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
			return f, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("node: waiting for another node on this machine to stop (%s): %w", lockPath, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func restConfig(kubeconfigPath string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg, nil
}

// RSS is the resident memory of the node's processes, by component, in bytes: the ones Start
// ran, and "shims" for containerd's shims and what runs in the pods (by cgroup).
func (n *Node) RSS() map[string]uint64 {
	out := map[string]uint64{}
	seen := map[int]bool{}
	for _, p := range n.procs {
		if !p.exited() {
			seen[p.cmd.Process.Pid] = true
			out[p.name] += rssOf(p.cmd.Process.Pid)
		}
	}
	for _, pid := range append(pidsMentioning(n.st.Dir), cgroupPIDs(n.Host, n.st.CgroupRoot)...) {
		if !seen[pid] {
			seen[pid] = true
			out["shims and pods"] += rssOf(pid)
		}
	}
	return out
}

func rssOf(pid int) uint64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
