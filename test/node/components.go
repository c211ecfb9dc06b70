package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// startComponents starts the runtime and the control plane side by side, imports the images
// while the API server comes up, then starts the node agents and waits for the node to be Ready.
func (n *Node) startComponents(ctx context.Context) error {
	d := n.st.Dir
	containerd, err := n.startProc("containerd", "--config", n.paths.containerdConf)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(n.ports.etcd)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(n.ports.etcdPeer)
	etcd, err := n.startProc("etcd", "--name=node", "--data-dir="+filepath.Join(d, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=node="+peerURL, "--unsafe-no-fsync=true", "--log-level=warn")
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, etcd, "healthy", 20*time.Second, func(ctx context.Context) error {
		return httpOK(ctx, &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}, etcdURL+"/health")
	}); err != nil {
		return err
	}
	c := n.certs
	apiserver, err := n.startProc("kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address="+NodeIP.String(), "--advertise-address="+NodeIP.String(),
		"--secure-port="+strconv.Itoa(n.ports.apiserver),
		"--cert-dir="+filepath.Join(d, "apiserver"),
		"--tls-cert-file="+c.apiCert, "--tls-private-key-file="+c.apiKey, "--client-ca-file="+c.ca,
		"--kubelet-client-certificate="+c.kcCert, "--kubelet-client-key="+c.kcKey,
		"--kubelet-certificate-authority="+c.ca, "--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+c.saPub, "--service-account-signing-key-file="+c.saKey,
		"--service-cluster-ip-range="+ServiceCIDR.String(),
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		// The API server calls webhooks at their endpoints (pod IPs), as the design says.
		"--enable-aggregator-routing=true",
		"--profiling=false")
	if err != nil {
		return err
	}
	n.step("containerd, etcd and kube-apiserver started")
	if err := n.waitFor(ctx, containerd, "serving", 20*time.Second, func(ctx context.Context) error {
		_, err := os.Stat(n.paths.containerdSock)
		return err
	}); err != nil {
		return err
	}
	pause, err := pauseImage(ctx, n.opts.RepoRoot, d)
	if err != nil {
		return err
	}
	for _, img := range append([]string{pause}, n.opts.Images...) {
		if err := n.ImportImage(ctx, img); err != nil {
			return err
		}
	}
	n.step("%d images imported into containerd", 1+len(n.opts.Images))

	adminClient, err := n.adminHTTP()
	if err != nil {
		return err
	}
	if err := n.waitFor(ctx, apiserver, "ready", 60*time.Second, func(ctx context.Context) error {
		return httpOK(ctx, adminClient, n.APIServerURL()+"/readyz")
	}); err != nil {
		return err
	}
	if n.Config, err = restConfig(n.Kubeconfig); err != nil {
		return err
	}
	if n.Clients, err = kubernetes.NewForConfig(n.Config); err != nil {
		return err
	}
	n.step("kube-apiserver ready at %s", n.APIServerURL())

	if _, err := n.startProc("kube-controller-manager",
		"--kubeconfig="+n.paths.cmKC, "--authentication-kubeconfig="+n.paths.cmKC, "--authorization-kubeconfig="+n.paths.cmKC,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(n.ports.cm),
		"--service-account-private-key-file="+c.saKey, "--root-ca-file="+c.ca,
		"--use-service-account-credentials=true", "--leader-elect=false",
		"--allocate-node-cidrs=false", "--service-cluster-ip-range="+ServiceCIDR.String(),
		"--cluster-name="+filepath.Base(d)); err != nil {
		return err
	}
	if _, err := n.startProc("kube-scheduler",
		"--kubeconfig="+n.paths.schedKC, "--authentication-kubeconfig="+n.paths.schedKC, "--authorization-kubeconfig="+n.paths.schedKC,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(n.ports.scheduler), "--leader-elect=false"); err != nil {
		return err
	}
	if _, err := n.startProc("kube-proxy", "--config="+n.paths.proxyConf); err != nil {
		return err
	}
	kubelet, err := n.startProc("kubelet", "--config="+n.paths.kubeletConf, "--kubeconfig="+n.paths.kubeletKC,
		"--root-dir="+filepath.Join(d, "kubelet"), "--cert-dir="+filepath.Join(d, "kubelet", "pki"),
		"--node-ip="+NodeIP.String(), "--hostname-override="+Name)
	if err != nil {
		return err
	}
	n.step("kube-controller-manager, kube-scheduler, kube-proxy and kubelet started")
	if err := n.waitFor(ctx, kubelet, "Ready", 60*time.Second, n.nodeReady); err != nil {
		return err
	}
	// Pods can be created once the ServiceAccount controller made the default account.
	return n.waitFor(ctx, nil, "serving the default ServiceAccount", 30*time.Second, func(ctx context.Context) error {
		_, err := n.Clients.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

func (n *Node) nodeReady(ctx context.Context) error {
	if n.procs[len(n.procs)-1].exited() {
		return nil // waitFor reports it
	}
	node, err := n.Clients.CoreV1().Nodes().Get(ctx, Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("condition Ready=%s: %s", c.Status, c.Message)
		}
	}
	return errors.New("no Ready condition yet")
}

// adminHTTP is an HTTP client that presents the administrator's certificate.
func (n *Node) adminHTTP() (*http.Client, error) {
	caPEM, err := os.ReadFile(n.certs.ca)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(n.paths.pki, "admin-client.crt"), filepath.Join(n.paths.pki, "admin-client.key"))
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		Proxy:           nil,
		DialContext:     (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
	}}, nil
}

func httpOK(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
