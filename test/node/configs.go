package node

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// PauseImage is the sandbox image; the node builds it (pause.go) and pins it in containerd.
const PauseImage = "registry.k8s.io/pause:3.10"

// writeConfigs writes the PKI, the kubeconfigs and the components' configuration files.
func (n *Node) writeConfigs() error {
	d := n.st.Dir
	n.paths = paths{
		pki:            filepath.Join(d, "pki"),
		containerdSock: filepath.Join(d, "containerd.sock"),
		containerdConf: filepath.Join(d, "containerd.toml"),
		kubeletConf:    filepath.Join(d, "kubelet.yaml"),
		proxyConf:      filepath.Join(d, "kube-proxy.yaml"),
		cniConf:        filepath.Join(d, "cni", "net.d"),
		logs:           filepath.Join(d, "logs"),
	}
	for _, dir := range []string{n.paths.cniConf, n.paths.logs} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	p, err := newPKI(n.paths.pki)
	if err != nil {
		return err
	}
	nodeIP := net.IP(NodeIP.AsSlice())
	svcIP := net.IP(ServiceCIDR.Addr().Next().AsSlice()) // the kubernetes Service's ClusterIP
	apiCert, apiKey, err := p.issue("apiserver", "kube-apiserver", nil,
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		[]net.IP{nodeIP, svcIP, net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	kcCert, kcKey, err := p.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil)
	if err != nil {
		return err
	}
	kubeletServe, kubeletServeKey, err := p.issue("kubelet-serving", "system:node:"+Name, []string{"system:nodes"}, []string{Name}, []net.IP{nodeIP})
	if err != nil {
		return err
	}
	saPub, saKey, err := p.serviceAccountKey()
	if err != nil {
		return err
	}
	server := n.APIServerURL()
	for _, u := range []struct {
		name, cn string
		orgs     []string
		path     *string
	}{
		{"admin", "wire-audit-admin", []string{"system:masters"}, &n.paths.admin},
		{"kubelet", "system:node:" + Name, []string{"system:nodes"}, &n.paths.kubeletKC},
		{"controller-manager", "system:kube-controller-manager", nil, &n.paths.cmKC},
		{"scheduler", "system:kube-scheduler", nil, &n.paths.schedKC},
		{"kube-proxy", "system:kube-proxy", nil, &n.paths.proxyKC},
	} {
		cert, key, err := p.issue(u.name+"-client", u.cn, u.orgs, nil, nil)
		if err != nil {
			return err
		}
		*u.path = filepath.Join(d, u.name+".kubeconfig")
		if err := kubeconfig(*u.path, server, p.CAFile, cert, key); err != nil {
			return err
		}
	}
	n.Kubeconfig = n.paths.admin
	n.certs = certs{ca: p.CAFile, apiCert: apiCert, apiKey: apiKey, kcCert: kcCert, kcKey: kcKey,
		kubeletCert: kubeletServe, kubeletKey: kubeletServeKey, saPub: saPub, saKey: saKey}

	files := map[string]string{
		n.paths.containerdConf: n.containerdConfig(),
		n.paths.kubeletConf:    n.kubeletConfig(),
		n.paths.proxyConf:      n.proxyConfig(),
		filepath.Join(n.paths.cniConf, "10-wire-audit.conflist"): n.cniConfig(),
		// The pods' DNS (dnsPolicy Default and the kubelet's upstream) is the node's address
		// only: the host's resolvers are off limits to pods.
		filepath.Join(d, "resolv.conf"): "nameserver " + NodeIP.String() + "\n",
	}
	for path, body := range files {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			return err
		}
	}
	return nil
}

type certs struct {
	ca, apiCert, apiKey, kcCert, kcKey, kubeletCert, kubeletKey, saPub, saKey string
}

func (n *Node) containerdConfig() string {
	d := n.st.Dir
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
imports = []
[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = %[3]q
  [plugins.'io.containerd.server.v1.ttrpc']
    address = %[4]q
  [plugins.'io.containerd.shim.v1.manager']
    socket_dir = %[5]q
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %[6]q
  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = %[7]v
    netns_mounts_under_state_dir = true
    cdi_spec_dirs = []
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %[8]q
        Root = %[9]q
        SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%[10]q]
      conf_dir = %[11]q
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = %[12]q
    stream_server_port = '0'
`, filepath.Join(d, "containerd", "root"), filepath.Join(d, "containerd", "state"), n.paths.containerdSock,
		n.paths.containerdSock+".ttrpc", filepath.Join(d, "s"), PauseImage,
		!n.Host.SysResource, n.bin("runc"), filepath.Join(d, "runc"),
		filepath.Join(n.opts.BinDir, "cni"), n.paths.cniConf, NodeIP.String())
}

func (n *Node) kubeletConfig() string {
	d := n.st.Dir
	oomScoreAdj := -999
	if !n.Host.SysResource {
		oomScoreAdj = 0 // lowering it needs CAP_SYS_RESOURCE
	}
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: %[2]d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %[3]d
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[4]q}
authorization: {mode: Webhook}
tlsCertFile: %[5]q
tlsPrivateKeyFile: %[6]q
cgroupDriver: cgroupfs
cgroupRoot: %[7]q
failCgroupV1: false
failSwapOn: false
oomScoreAdj: %[8]d
clusterDNS: [%[1]s]
clusterDomain: cluster.local
resolvConf: %[9]q
containerRuntimeEndpoint: unix://%[10]s
podLogsDir: %[11]q
serializeImagePulls: false
imageMinimumGCAge: 24h
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
nodeStatusReportFrequency: 10s
shutdownGracePeriod: 0s
`, NodeIP, n.ports.kubelet, n.ports.kubeletHealth, n.certs.ca, n.certs.kubeletCert, n.certs.kubeletKey,
		n.st.CgroupRoot, oomScoreAdj, filepath.Join(d, "resolv.conf"), n.paths.containerdSock, filepath.Join(d, "pod-logs"))
}

func (n *Node) proxyConfig() string {
	return fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %[1]q}
mode: iptables
bindAddress: %[2]s
healthzBindAddress: 127.0.0.1:%[3]d
metricsBindAddress: 127.0.0.1:%[4]d
hostnameOverride: %[5]s
clusterCIDR: %[6]s
nodePortAddresses: ["%[2]s/32"]
conntrack: {maxPerCore: 0, min: 0}
iptables: {localhostNodePorts: false}
`, n.paths.proxyKC, NodeIP, n.ports.proxyHealth, n.ports.proxyMetrics, Name, PodCIDR)
}

// cniConfig is the pods' network: a bridge that is their gateway to the node, routes to the
// node's range and the Service range only, no masquerade.
func (n *Node) cniConfig() string {
	routes := []string{fmt.Sprintf(`{"dst": %q}`, NodeNet), fmt.Sprintf(`{"dst": %q}`, ServiceCIDR)}
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %[1]q,
  "plugins": [
    {"type": "bridge", "bridge": %[2]q, "isGateway": true, "isDefaultGateway": false, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %[3]q, "gateway": %[4]q}]], "routes": [%[5]s], "dataDir": %[6]q}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, filepath.Base(n.st.Dir), n.st.PodBridge, PodCIDR, PodGateway, strings.Join(routes, ", "), filepath.Join(n.st.Dir, "cni", "ipam"))
}
