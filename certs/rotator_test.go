package certs

import (
	"bytes"
	"context"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func newTestRotator(t *testing.T, c client.Client, now time.Time) *Rotator {
	t.Helper()
	r, err := New(Options{Namespace: "ns", SecretName: "cert", WebhookConfigName: "mwc", ServiceName: "svc", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	r.client, r.apiReader = c, c
	return r
}

func testConfig() *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "mwc"},
		Webhooks:   []admissionregistrationv1.MutatingWebhook{{Name: "a.audit.io"}, {Name: "b.audit.io"}},
	}
}

var secretKey = reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "cert"}}

func reconcileOK(t *testing.T, r *Rotator) reconcile.Result {
	t.Helper()
	res, err := r.Reconcile(context.Background(), secretKey)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func readBack(t *testing.T, c client.Client) (*corev1.Secret, *admissionregistrationv1.MutatingWebhookConfiguration) {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), secretKey.NamespacedName, s); err != nil {
		t.Fatal(err)
	}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: "mwc"}, mwc); err != nil {
		t.Fatal(err)
	}
	return s, mwc
}

// TestReconcileFromNothing: one pass creates the Secret, the next injects its CA into every
// webhook; a caBundle overwritten later is put back.
func TestReconcileFromNothing(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(testConfig()).Build()
	r := newTestRotator(t, c, time.Now())
	reconcileOK(t, r)
	reconcileOK(t, r)
	s, mwc := readBack(t, c)
	for _, w := range mwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, s.Data[KeyCACert]) {
			t.Errorf("webhook %s: caBundle is not the Secret's CA", w.Name)
		}
	}
	if mwc.Annotations[AnnotationBundleGeneration] != "1" {
		t.Errorf("configuration generation = %q, want 1", mwc.Annotations[AnnotationBundleGeneration])
	}
	mwc.Webhooks[1].ClientConfig.CABundle = []byte("helm wrote this")
	if err := c.Update(context.Background(), mwc); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, r)
	if _, mwc = readBack(t, c); !bytes.Equal(mwc.Webhooks[1].ClientConfig.CABundle, s.Data[KeyCACert]) {
		t.Error("overwritten caBundle not restored")
	}
}

// TestLaggingReplica: a replica whose cache still shows an old Secret must neither create a
// second CA nor write its older bundle over a newer one.
func TestLaggingReplica(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(testConfig()).Build()
	now := time.Now()
	first := newTestRotator(t, c, now)
	reconcileOK(t, first)
	reconcileOK(t, first)
	older, _ := readBack(t, c)
	// One more write, so that older is really behind: a forced serving rotation.
	if err := RequestRotation(context.Background(), c, "ns", "cert", RotateServing); err != nil {
		t.Fatal(err)
	}
	reconcileOK(t, first)
	current, _ := readBack(t, c)
	if current.ResourceVersion == older.ResourceVersion {
		t.Fatal("the forced rotation did not write the Secret")
	}

	cases := []struct {
		name string
		// stale is what the lagging replica's cache returns for the Secret; nil is NotFound.
		stale func() *corev1.Secret
	}{
		{"sees no secret yet", func() *corev1.Secret { return nil }},
		{"sees an older secret, with the rotate annotation", func() *corev1.Secret {
			old := older.DeepCopy()
			old.Annotations[AnnotationRotate] = RotateServing
			return old
		}},
		{"sees an older, broken secret", func() *corev1.Secret {
			old := older.DeepCopy()
			old.Data[KeyCACert] = []byte("garbage")
			return old
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lagging := interceptor.NewClient(c, interceptor.Funcs{
				Get: func(ctx context.Context, cl client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					if s, ok := obj.(*corev1.Secret); ok {
						stale := tc.stale()
						if stale == nil {
							return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
						}
						stale.DeepCopyInto(s)
						return nil
					}
					return cl.Get(ctx, key, obj, opts...)
				},
			})
			second := newTestRotator(t, lagging, now)
			res := reconcileOK(t, second)
			if res.RequeueAfter == 0 {
				t.Error("the losing replica does not look again")
			}
			s, mwc := readBack(t, c)
			if s.ResourceVersion != current.ResourceVersion {
				t.Error("the lagging replica's write landed")
			}
			if !bytes.Equal(mwc.Webhooks[0].ClientConfig.CABundle, current.Data[KeyCACert]) {
				t.Error("the lagging replica changed caBundle")
			}
		})
	}
}

// TestStaleBundleNotWritten: a configuration at a newer generation than the Secret this
// replica sees is left alone.
func TestStaleBundleNotWritten(t *testing.T) {
	mwc := testConfig()
	mwc.Annotations = map[string]string{AnnotationBundleGeneration: "5"}
	mwc.Webhooks[0].ClientConfig.CABundle = []byte("newer bundle")
	mwc.Webhooks[1].ClientConfig.CABundle = []byte("newer bundle")
	o := testOptions(t)
	secret := issued(t, o, time.Now()) // generation 1
	secret.Namespace, secret.Name = "ns", "cert"
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(mwc, secret).Build()
	r := newTestRotator(t, c, time.Now())
	reconcileOK(t, r)
	if _, got := readBack(t, c); string(got.Webhooks[0].ClientConfig.CABundle) != "newer bundle" {
		t.Error("an older bundle was written over a newer generation")
	}
}
