package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/test/cluster"
)

// peerTouched is the annotation a mutating peer adds.
const peerTouched = "peer.audit.io/touched"

// startPeerWebhook serves another webhook beside ours, with the serving certificate envtest made
// for ours, for pods that carry matchAnnotation. It admits them unchanged, or, when mutate is
// set, adds the annotation peerTouched. The API server orders webhooks by configuration name, so
// namePrefix decides whether it runs before ours ("bench-") or after it ("zz-"). It returns the
// number of calls it has received.
func startPeerWebhook(tb testing.TB, e *cluster.Cluster, ns, namePrefix, matchAnnotation string, mutate bool) *atomic.Int64 {
	tb.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.ServingCertDir, "tls.crt"), filepath.Join(e.ServingCertDir, "tls.key"))
	if err != nil {
		tb.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		tb.Fatal(err)
	}
	var calls atomic.Int64
	patch, patchType := []byte(`[{"op":"add","path":"/metadata/annotations/peer.audit.io~1touched","value":"true"}]`), admissionv1.PatchTypeJSONPatch
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		if mutate {
			resp.Patch, resp.PatchType = patch, &patchType
		}
		review.Request, review.Response = nil, resp
		_ = json.NewEncoder(w).Encode(&review)
	})}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })

	url := "https://" + l.Addr().(*net.TCPAddr).String() + "/peer"
	none, fail, timeout := admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Fail, int32(5)
	never := admissionregistrationv1.NeverReinvocationPolicy
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{GenerateName: namePrefix},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "peer.audit.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: e.CAData},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			TimeoutSeconds:          &timeout,
			ReinvocationPolicy:      &never,
			AdmissionReviewVersions: []string{"v1"},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "peer",
				Expression: "has(object.metadata.annotations) && '" + matchAnnotation + "' in object.metadata.annotations"}},
		}},
	}
	created, err := e.Clients.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(context.Background(), cfg, metav1.CreateOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = e.Clients.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
	// The API server picks configurations up asynchronously: dry-run pods until the peer is called.
	for deadline := time.Now().Add(30 * time.Second); calls.Load() == 0; {
		if time.Now().After(deadline) {
			tb.Fatal("the API server never called the peer webhook")
		}
		_, _ = e.Clients.CoreV1().Pods(ns).Create(context.Background(), appPod("probe-", map[string]string{matchAnnotation: "true"}),
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		time.Sleep(100 * time.Millisecond)
	}
	return &calls
}
