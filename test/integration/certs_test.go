package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/certs"
	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/webhook"
)

// TestCertsFromNothing: the shared webhook started with no Secret. It must have created one,
// injected its CA, and serve a certificate the API server trusts, so annotated pods are admitted.
func TestCertsFromNothing(t *testing.T) {
	e := getEnv(t)
	s := getSecret(t, e, cluster.SecretName)
	for _, k := range []string{certs.KeyCACert, certs.KeyCAKey, certs.KeyServingCert, certs.KeyServingKey} {
		if len(s.Data[k]) == 0 {
			t.Errorf("secret has no %s", k)
		}
	}
	leaf := servedCert(t, e.WebhookAddr)
	if want := parseCerts(t, s.Data[certs.KeyServingCert])[0]; leaf.SerialNumber.Cmp(want.SerialNumber) != 0 {
		t.Errorf("served serial %x, secret holds %x", leaf.SerialNumber, want.SerialNumber)
	}
	for _, w := range getConfig(t, e, cluster.ConfigName).Webhooks {
		if !bytes.Contains(w.ClientConfig.CABundle, s.Data[certs.KeyCACert]) {
			t.Errorf("webhook %s: caBundle does not hold the secret's CA", w.Name)
		}
		for _, host := range []string{"127.0.0.1", "wire-audit-webhook-service.wire-audit-system.svc"} {
			if err := verify(leaf, w.ClientConfig.CABundle, host); err != nil {
				t.Errorf("webhook %s: served certificate for %s: %v", w.Name, host, err)
			}
		}
	}
	ns := namespace(t, e, "certs-start", nil)
	pod, err := e.Clients.CoreV1().Pods(ns).Create(context.Background(), appPod("api-", map[string]string{webhook.AnnotationCapture: "true"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create annotated pod: %v", err)
	}
	if len(pod.Spec.InitContainers) != 1 {
		t.Errorf("pod admitted without the sidecar")
	}
	body := metricsBody(t, e.MetricsURL)
	if n := cluster.SumCounter(body, certs.MetricRotations, "reason", "initial"); n != 2 {
		t.Errorf("initial issues = %v, want 2 (the CA and the serving certificate)", n)
	}
	if left := cluster.SumCounter(body, certs.MetricExpirySeconds, "cert", "serving"); left <= 0 || left > (24*time.Hour).Seconds() {
		t.Errorf("serving expiry gauge = %v s, want within (0, 24h]", left)
	}
}

// TestRotationUnderLoad forces a rotation of the serving certificate and then of the CA, with
// the documented command, while a client creates audited pods without pause. Every creation
// must succeed. A second replica shares the Secret and the configuration, as in a Deployment
// with two replicas: either may make each step, and both must serve every new certificate.
func TestRotationUnderLoad(t *testing.T) {
	e := getEnv(t)
	// A fresh name each run, so that -count=N repeats the measurement.
	ns := namespace(t, e, fmt.Sprintf("certs-rotation-%d", time.Now().UnixNano()), nil)
	second, err := e.StartWebhook(0, nil, "--config=../../config/manager/config.yaml", "--webhook-config-name="+cluster.ConfigName,
		"--cert-secret-name="+cluster.SecretName, "--cert-extra-sans=localhost,127.0.0.1", "--ca-overlap="+cluster.CAOverlap.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop)
	if err := second.WaitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	replicas := []string{e.MetricsURL, second.MetricsURL}
	before := sumMetrics(t, replicas)
	load := startLoad(t, e, ns, 25)
	time.Sleep(time.Second)

	first := servedCert(t, e.WebhookAddr)
	start := time.Now()
	rotateCommand(t, e, certs.RotateServing)
	newSerial := func(c *x509.Certificate) bool { return c.SerialNumber.Cmp(first.SerialNumber) != 0 }
	rotated := waitServed(t, e.WebhookAddr, "a new serving certificate", newSerial)
	t.Logf("serving rotation: new certificate served %s after `webhook rotate serving` started", time.Since(start).Round(time.Millisecond))
	waitServed(t, second.WebhookAddr, "a new serving certificate on the second replica", newSerial)
	t.Logf("serving rotation: second replica serves it %s after the command started", time.Since(start).Round(time.Millisecond))
	if rotated.Issuer.CommonName != first.Issuer.CommonName {
		t.Errorf("a serving rotation changed the CA from %q to %q", first.Issuer.CommonName, rotated.Issuer.CommonName)
	}
	time.Sleep(time.Second)

	start = time.Now()
	rotateCommand(t, e, certs.RotateCA)
	newCA := func(c *x509.Certificate) bool { return c.Issuer.CommonName != first.Issuer.CommonName }
	third := waitServed(t, e.WebhookAddr, "a certificate from the new CA", newCA)
	t.Logf("CA rotation: serving from the new CA %s after `webhook rotate ca` started (overlap %s)", time.Since(start).Round(time.Millisecond), cluster.CAOverlap)
	waitServed(t, second.WebhookAddr, "a certificate from the new CA on the second replica", newCA)
	waitFor(t, 60*time.Second, "the old CA to leave caBundle", func() (bool, error) { return oldCADropped(t, e), nil })
	t.Logf("CA rotation: old CA dropped from caBundle %s after `webhook rotate ca` started", time.Since(start).Round(time.Millisecond))
	if err := verify(third, getSecret(t, e, cluster.SecretName).Data[certs.KeyCACert], "127.0.0.1"); err != nil {
		t.Errorf("served certificate after the CA rotation: %v", err)
	}
	time.Sleep(time.Second)

	r := load.stop()
	t.Logf("pods created during both rotations: %d ok, %d failed, %d without sidecar, in %s (%.1f/s)",
		r.ok, r.failed, r.notInjected, r.elapsed.Round(time.Millisecond), float64(r.ok+r.failed)/r.elapsed.Seconds())
	if r.failed != 0 || r.notInjected != 0 {
		t.Errorf("%d creations failed and %d pods lack the sidecar during rotation; first errors: %v", r.failed, r.notInjected, r.errs)
	}
	for _, url := range []string{e.ReadyzURL, second.ReadyzURL} {
		if code, body, err := cluster.Get(url + "?verbose=1"); err != nil || code != 200 {
			t.Errorf("a replica is not ready after the rotation: %d %v %s", code, err, body)
		}
	}
	after := sumMetrics(t, replicas)
	for _, c := range []struct{ cert, reason string }{{"serving", "forced"}, {"ca", "forced"}, {"serving", "ca-switch"}} {
		if got := counterFor(after, c.cert, c.reason) - counterFor(before, c.cert, c.reason); got != 1 {
			t.Errorf("rotations{cert=%s,reason=%s} grew by %v over both replicas, want 1", c.cert, c.reason, got)
		}
	}
}

// sumMetrics concatenates the replicas' metrics, so that counters add up over them.
func sumMetrics(t *testing.T, urls []string) string {
	t.Helper()
	var b strings.Builder
	for _, u := range urls {
		b.WriteString(metricsBody(t, u))
	}
	return b.String()
}

// TestCABundleRestored overwrites caBundle with a stale CA, as a `helm upgrade` would, and
// expects the rotator to put its own back.
func TestCABundleRestored(t *testing.T) {
	e := getEnv(t)
	ctx := context.Background()
	mwcs := e.Clients.AdmissionregistrationV1().MutatingWebhookConfigurations()
	mwc := getConfig(t, e, cluster.ConfigName)
	want := mwc.Webhooks[0].ClientConfig.CABundle
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ClientConfig.CABundle = e.CAData
	}
	start := time.Now()
	if _, err := mwcs.Update(ctx, mwc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "caBundle to be restored", func() (bool, error) {
		return bytes.Equal(getConfig(t, e, cluster.ConfigName).Webhooks[0].ClientConfig.CABundle, want), nil
	})
	t.Logf("caBundle restored %s after it was overwritten", time.Since(start).Round(time.Millisecond))
	ns := namespace(t, e, fmt.Sprintf("certs-restored-%d", time.Now().UnixNano()), nil)
	// The API server picks the restored configuration up asynchronously.
	waitFor(t, 30*time.Second, "an annotated pod to be admitted", func() (bool, error) {
		_, err := e.Clients.CoreV1().Pods(ns).Create(ctx, appPod("api-", map[string]string{webhook.AnnotationCapture: "true"}), metav1.CreateOptions{})
		return err == nil, nil
	})
	if !strings.Contains(e.WebhookLog(), `"restored":true`) {
		t.Errorf("no log line says caBundle was restored")
	}
}

// TestTwoRotatorsOneCA starts two replicas at the same moment, with no Secret (both race to
// create it) or with a broken one (both race to replace it). Exactly one CA must come out, and
// both replicas must serve from it.
func TestTwoRotatorsOneCA(t *testing.T) {
	e := getEnv(t)
	for round := range 4 {
		name := fmt.Sprintf("twin-%d", round)
		twinConfig(t, e, name)
		if round%2 == 1 {
			broken := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace},
				Data: map[string][]byte{certs.KeyCACert: []byte("garbage"), certs.KeyCAKey: []byte("garbage")}}
			if _, err := e.Clients.CoreV1().Secrets(cluster.Namespace).Create(context.Background(), broken, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var replicas [2]*cluster.Webhook
		var wg sync.WaitGroup
		for i := range replicas {
			// Debug logs show the losing writes, which prove the race really happened.
			wg.Go(func() { replicas[i] = startReplica(t, e, name, "--zap-log-level=debug") })
		}
		wg.Wait()
		for _, r := range replicas {
			if err := r.WaitReady(60 * time.Second); err != nil {
				t.Fatal(err)
			}
		}
		s := getSecret(t, e, name)
		if n := len(parseCerts(t, s.Data[certs.KeyCACert])); n != 1 || len(s.Data[certs.KeyNextCACert]) != 0 {
			t.Errorf("round %d: %d CAs in ca.crt, ca-next.crt %d bytes; want one CA", round, n, len(s.Data[certs.KeyNextCACert]))
		}
		if got := getConfig(t, e, name).Webhooks[0].ClientConfig.CABundle; !bytes.Equal(got, s.Data[certs.KeyCACert]) {
			t.Errorf("round %d: caBundle is not the one CA", round)
		}
		var minted float64
		for i, r := range replicas {
			minted += cluster.SumCounter(metricsBody(t, r.MetricsURL), certs.MetricRotations, "cert", "ca")
			if err := verify(servedCert(t, r.WebhookAddr), s.Data[certs.KeyCACert], "127.0.0.1"); err != nil {
				t.Errorf("round %d: replica %d: %v", round, i, err)
			}
		}
		if minted != 1 {
			t.Errorf("round %d: the replicas minted %v CAs, want 1", round, minted)
		}
		lost := 0
		for _, r := range replicas {
			r.Stop()
			lost += strings.Count(r.Log(), "another replica changed the secret first")
		}
		t.Logf("round %d: one CA; %d writes lost the race to the other replica and were retried", round, lost)
	}
}

// TestBadSecretRepaired gives a replica each kind of broken Secret. It must repair it before it
// reports ready, say in its log what was wrong, and keep a CA that is still good.
func TestBadSecretRepaired(t *testing.T) {
	e := getEnv(t)
	opts := certs.Options{Namespace: cluster.Namespace, SecretName: "unused", WebhookConfigName: "unused",
		ServiceName: "wire-audit-webhook-service", ExtraHosts: []string{"localhost", "127.0.0.1"}}
	issue := func(at time.Time) map[string][]byte {
		d, err := certs.Issue(opts, at)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	now := time.Now()
	good, other := issue(now), issue(now)
	cases := []struct {
		name    string
		data    map[string][]byte
		problem string // in the log line; "" for a Secret that was simply empty
		keepCA  bool
	}{
		{name: "empty as shipped", data: nil},
		{name: "garbage pem", data: map[string][]byte{
			certs.KeyCACert: []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"), certs.KeyCAKey: []byte("garbage"),
			certs.KeyServingCert: []byte("garbage"), certs.KeyServingKey: []byte("garbage"),
		}, problem: "ca.crt/ca.key: unusable certificate or key"},
		{name: "serving key does not match", data: with(good, certs.KeyServingKey, other[certs.KeyServingKey]),
			problem: "tls.crt/tls.key: unusable certificate or key: tls: private key does not match public key", keepCA: true},
		{name: "serving expired", data: issue(now.Add(-48 * time.Hour)), problem: "tls.crt/tls.key: certificate", keepCA: true},
		{name: "ca expired", data: issue(now.Add(-11 * 365 * 24 * time.Hour)), problem: "ca.crt/ca.key: certificate"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("bad-%d", i)
			ctx := context.Background()
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace}, Data: tc.data}
			if _, err := e.Clients.CoreV1().Secrets(cluster.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Clients.CoreV1().Secrets(cluster.Namespace).Delete(ctx, name, metav1.DeleteOptions{}) })
			twinConfig(t, e, name)
			r := startReplica(t, e, name)
			if err := r.WaitReady(60 * time.Second); err != nil {
				t.Fatal(err)
			}
			s := getSecret(t, e, name)
			pair, err := tls.X509KeyPair(s.Data[certs.KeyServingCert], s.Data[certs.KeyServingKey])
			if err != nil {
				t.Fatalf("secret still broken once ready: %v", err)
			}
			if err := verify(pair.Leaf, s.Data[certs.KeyCACert], "127.0.0.1"); err != nil {
				t.Errorf("repaired serving certificate: %v", err)
			}
			if served := servedCert(t, r.WebhookAddr); served.SerialNumber.Cmp(pair.Leaf.SerialNumber) != 0 {
				t.Errorf("ready replica serves %x, the secret holds %x", served.SerialNumber, pair.Leaf.SerialNumber)
			}
			if kept := bytes.Equal(s.Data[certs.KeyCACert], tc.data[certs.KeyCACert]); kept != tc.keepCA {
				t.Errorf("CA kept = %v, want %v", kept, tc.keepCA)
			}
			logged := strings.Contains(r.Log(), "certificate secret is unusable")
			if tc.problem != "" && (!logged || !strings.Contains(r.Log(), tc.problem)) {
				t.Errorf("log does not name the problem %q:\n%s", tc.problem, r.Log())
			}
			if tc.problem == "" && logged {
				t.Errorf("an empty Secret was reported as broken:\n%s", r.Log())
			}
			r.Stop()
		})
	}
}

func with(d map[string][]byte, key string, value []byte) map[string][]byte {
	out := make(map[string][]byte, len(d))
	for k, v := range d {
		out[k] = v
	}
	out[key] = value
	return out
}

// twinConfig copies the shared webhook configuration under name, with a namespaceSelector that
// matches no namespace: a second rotator gets its own caBundle to manage, and pod creation in
// the other tests never depends on it.
func twinConfig(t *testing.T, e *cluster.Cluster, name string) {
	t.Helper()
	mwc := getConfig(t, e, cluster.ConfigName)
	mwc.ObjectMeta = metav1.ObjectMeta{Name: name}
	for i := range mwc.Webhooks {
		mwc.Webhooks[i].ClientConfig.CABundle = nil
		mwc.Webhooks[i].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"audit.io/never": "true"}}
	}
	mwcs := e.Clients.AdmissionregistrationV1().MutatingWebhookConfigurations()
	if _, err := mwcs.Create(context.Background(), mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = mwcs.Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = e.Clients.CoreV1().Secrets(cluster.Namespace).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// startReplica runs one more webhook process whose Secret and configuration are both named name.
func startReplica(t *testing.T, e *cluster.Cluster, name string, args ...string) *cluster.Webhook {
	t.Helper()
	r, err := e.StartWebhook(0, nil, append([]string{"--config=../../config/manager/config.yaml", "--cert-secret-name=" + name,
		"--webhook-config-name=" + name, "--cert-extra-sans=localhost,127.0.0.1"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

func rotateCommand(t *testing.T, e *cluster.Cluster, what string) {
	t.Helper()
	out, err := exec.Command(e.Binary, "rotate", "--kubeconfig="+e.Kubeconfig, "--namespace="+cluster.Namespace,
		"--cert-secret-name="+cluster.SecretName, what).CombinedOutput()
	if err != nil {
		t.Fatalf("webhook rotate %s: %v\n%s", what, err, out)
	}
}

func getSecret(t testing.TB, e *cluster.Cluster, name string) *corev1.Secret {
	t.Helper()
	s, err := e.Clients.CoreV1().Secrets(cluster.Namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func getConfig(t testing.TB, e *cluster.Cluster, name string) *admissionregistrationv1.MutatingWebhookConfiguration {
	t.Helper()
	mwc, err := e.Clients.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return mwc
}

// servedCert is the certificate a TLS handshake with addr gets now. Trust is checked by the
// caller against the bundle in question, hence no verification here.
func servedCert(tb testing.TB, addr string) *x509.Certificate {
	tb.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		tb.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func waitServed(tb testing.TB, addr, what string, ok func(*x509.Certificate) bool) *x509.Certificate {
	tb.Helper()
	var got *x509.Certificate
	waitFor(tb, 60*time.Second, what, func() (bool, error) {
		got = servedCert(tb, addr)
		return ok(got), nil
	})
	return got
}

func verify(leaf *x509.Certificate, bundle []byte, host string) error {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return fmt.Errorf("no certificate in the bundle")
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host})
	return err
}

func parseCerts(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// waitFor polls cond every 10 ms, fine enough for the rotation timings the tests log, until it
// holds, failing after timeout.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			tb.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func metricsBody(tb testing.TB, url string) string {
	tb.Helper()
	code, body, err := cluster.Get(url)
	if err != nil || code != 200 {
		tb.Fatalf("GET %s: %d %v", url, code, err)
	}
	return body
}

func counterFor(body, cert, reason string) float64 {
	var n float64
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, certs.MetricRotations+"{") && strings.Contains(line, `cert="`+cert+`"`) && strings.Contains(line, `reason="`+reason+`"`) {
			n += cluster.SumCounter(line, certs.MetricRotations, "", "")
		}
	}
	return n
}

// podLoad creates audited pods at a steady rate until stopped.
type podLoad struct {
	ok, failed, notInjected atomic.Int64
	mu                      sync.Mutex
	errs                    []error
	done                    chan struct{}
	wg                      sync.WaitGroup
	start                   time.Time
}

type loadResult struct {
	ok, failed, notInjected int64
	elapsed                 time.Duration
	errs                    []error
}

// startLoad creates one pod every 1/rate seconds, each in its own goroutine so that a slow
// admission does not lower the rate, with at most 64 in flight. It stops by itself after two
// minutes, so that a stuck test cannot create pods forever.
func startLoad(tb testing.TB, e *cluster.Cluster, ns string, rate int) *podLoad {
	tb.Helper()
	l := &podLoad{done: make(chan struct{}), start: time.Now()}
	sem := make(chan struct{}, 64)
	l.wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		limit := time.After(2 * time.Minute)
		for {
			select {
			case <-l.done:
				return
			case <-limit:
				return
			case <-tick.C:
			}
			sem <- struct{}{}
			l.wg.Go(func() {
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				pod, err := e.Clients.CoreV1().Pods(ns).Create(ctx, appPod("load-", map[string]string{webhook.AnnotationCapture: "true"}), metav1.CreateOptions{})
				switch {
				case err != nil:
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err)
					}
					l.mu.Unlock()
				case len(pod.Spec.InitContainers) != 1:
					l.notInjected.Add(1)
				default:
					l.ok.Add(1)
				}
			})
		}
	})
	tb.Cleanup(func() { l.stop() })
	return l
}

func (l *podLoad) stop() loadResult {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return loadResult{ok: l.ok.Load(), failed: l.failed.Load(), notInjected: l.notInjected.Load(), elapsed: time.Since(l.start), errs: l.errs}
}

// TestFilesModeHotReload runs a replica in files mode, as with cert-manager or a Secret the
// user provides, and replaces its certificate files: it must serve the new certificate
// without a restart (controller-runtime's certwatcher).
func TestFilesModeHotReload(t *testing.T) {
	e := getEnv(t)
	dir := t.TempDir()
	write := func(d map[string][]byte) {
		t.Helper()
		for _, k := range []string{certs.KeyServingCert, certs.KeyServingKey} {
			// Write and rename, as the kubelet swaps a Secret volume's files atomically.
			tmp := filepath.Join(dir, "."+k)
			if err := os.WriteFile(tmp, d[k], 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(dir, k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	opts := certs.Options{Namespace: cluster.Namespace, SecretName: "unused", WebhookConfigName: "unused",
		ServiceName: "wire-audit-webhook-service", ExtraHosts: []string{"localhost", "127.0.0.1"}}
	first, err := certs.Issue(opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	write(first)
	r, err := e.StartWebhook(0, nil, "--config=../../config/manager/config.yaml", "--cert-mode=files", "--webhook-cert-path="+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	if err := r.WaitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	before := servedCert(t, r.WebhookAddr)
	next, err := certs.Issue(opts, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	write(next)
	want := parseCerts(t, next[certs.KeyServingCert])[0]
	waitServed(t, r.WebhookAddr, "the replaced certificate file", func(c *x509.Certificate) bool { return c.SerialNumber.Cmp(want.SerialNumber) == 0 })
	t.Logf("files mode: new certificate served %s after its files were replaced (was %x)", time.Since(start).Round(time.Millisecond), before.SerialNumber)
	if strings.Contains(r.Log(), "cert-rotator") {
		t.Errorf("files mode started the built-in rotator:\n%s", r.Log())
	}
}
