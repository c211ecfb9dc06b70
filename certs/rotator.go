package certs

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Rotator keeps the Secret, the caBundle and the served certificate in step. Every replica
// runs one; they agree through the API server's resourceVersion checks, not through a leader.
type Rotator struct {
	opts      Options
	client    client.Client
	apiReader client.Reader
	metrics   *metrics
	served    atomic.Pointer[served]
}

// New checks opts and applies the defaults.
func New(opts Options) (*Rotator, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	r := &Rotator{opts: opts}
	m, err := newMetrics(opts.Registerer, r)
	if err != nil {
		return nil, fmt.Errorf("register certificate metrics: %w", err)
	}
	r.metrics = m
	return r, nil
}

// CacheByObject narrows the manager's cache to the one Secret and the one webhook
// configuration, so that RBAC can grant them by name and nothing else is listed or watched.
func CacheByObject(namespace, secretName, webhookConfigName string) map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}: {
			Namespaces: map[string]cache.Config{namespace: {}},
			Field:      fields.OneTermEqualSelector("metadata.name", secretName),
		},
		&admissionregistrationv1.MutatingWebhookConfiguration{}: {
			Field: fields.OneTermEqualSelector("metadata.name", webhookConfigName),
		},
	}
}

// SetupWithManager registers the reconciler and the Secret handler that feeds GetCertificate.
func (r *Rotator) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.client, r.apiReader = mgr.GetClient(), mgr.GetAPIReader()
	log := logf.FromContext(ctx).WithName("certs")
	inf, err := mgr.GetCache().GetInformer(ctx, &corev1.Secret{})
	if err != nil {
		return fmt.Errorf("secret informer: %w", err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.load(log, obj) },
		UpdateFunc: func(_, obj any) { r.load(log, obj) },
	}); err != nil {
		return fmt.Errorf("watch secret for serving: %w", err)
	}
	key := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: r.opts.Namespace, Name: r.opts.SecretName}}
	toKey := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request { return []reconcile.Request{key} })
	// One kick at start: with no Secret yet, no event would ever arrive.
	kick := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(key)
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("cert-rotator").
		Watches(&corev1.Secret{}, toKey).
		Watches(&admissionregistrationv1.MutatingWebhookConfiguration{}, toKey).
		WatchesRawSource(kick).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, NeedLeaderElection: ptr(false)}).
		Complete(r)
}

func ptr[T any](v T) *T { return &v }

// conflictRetry is how soon a replica that lost a write race looks again; the winner's event
// usually arrives first.
const conflictRetry = 200 * time.Millisecond

// Reconcile makes one change at most: to the Secret if it needs one, otherwise to caBundle.
func (r *Rotator) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	log := logf.FromContext(ctx)
	now := r.opts.Now()
	var secret *corev1.Secret
	s := &corev1.Secret{}
	switch err := r.client.Get(ctx, req.NamespacedName, s); {
	case err == nil:
		secret = s
	case !apierrors.IsNotFound(err):
		return reconcile.Result{}, fmt.Errorf("read secret: %w", err)
	}
	var mwc *admissionregistrationv1.MutatingWebhookConfiguration
	w := &admissionregistrationv1.MutatingWebhookConfiguration{}
	switch err := r.client.Get(ctx, types.NamespacedName{Name: r.opts.WebhookConfigName}, w); {
	case err == nil:
		mwc = w
	case !apierrors.IsNotFound(err):
		return reconcile.Result{}, fmt.Errorf("read webhook configuration: %w", err)
	}

	m, p := parseSecret(secret, r.opts.hosts(), now)
	var pub published
	if m.next != nil {
		var err error
		if pub, err = r.published(ctx, m); err != nil {
			return reconcile.Result{}, err
		}
	}
	pl := decide(m, p, pub, now, &r.opts)
	if pl.step != stepNone {
		return r.change(ctx, pl, secret, m, generationOf(mwc), now)
	}
	if mwc == nil {
		log.Info("webhook configuration not found; caBundle is injected once it exists", "webhookConfiguration", r.opts.WebhookConfigName)
		return reconcile.Result{RequeueAfter: min(pl.recheck, 30*time.Second)}, nil
	}
	if err := r.inject(ctx, mwc, m, now); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: pl.recheck}, nil
}

var stepNames = [...]string{"none", "create", "issue-serving", "stage-ca", "switch-ca", "retire-ca", "drop-next-ca", "clear-rotate"}

// change applies one step to the Secret, guarded by its resourceVersion (or by create), so
// that of two replicas deciding at once only one write lands.
func (r *Rotator) change(ctx context.Context, pl plan, secret *corev1.Secret, m material, mwcGen int64, now time.Time) (reconcile.Result, error) {
	log := logf.FromContext(ctx).WithValues("step", stepNames[pl.step], "reason", pl.reason)
	if pl.problem != nil {
		log.Info("certificate secret is unusable; repairing it", "secret", r.opts.SecretName, "problem", pl.problem.Error())
	}
	next, err := apply(pl, m, mwcGen, now, &r.opts)
	if err != nil {
		return reconcile.Result{}, err
	}
	out := next.write(secret, r.opts.Namespace, r.opts.SecretName)
	if secret == nil {
		err = r.client.Create(ctx, out)
	} else {
		err = r.client.Update(ctx, out)
	}
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		log.V(1).Info("another replica changed the secret first; looking again")
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("write secret %s/%s: %w", r.opts.Namespace, r.opts.SecretName, err)
	}
	switch pl.step {
	case stepCreate:
		r.metrics.rotated("ca", pl.reason)
		r.metrics.rotated("serving", pl.reason)
	case stepServing, stepSwitchCA:
		r.metrics.rotated("serving", pl.reason)
	case stepStageCA:
		r.metrics.rotated("ca", pl.reason)
	}
	kv := []any{"generation", next.generation, "ca", serial(next.ca), "serving", serial(next.serving),
		"servingNotAfter", next.serving.cert.NotAfter.UTC().Format(time.RFC3339)}
	if next.next != nil {
		kv = append(kv, "nextCA", serial(next.next))
	}
	log.Info("certificate secret updated", kv...)
	return reconcile.Result{}, nil
}

func serial(kp *keyPair) string { return kp.cert.SerialNumber.Text(16) }

func generationOf(mwc *admissionregistrationv1.MutatingWebhookConfiguration) int64 {
	if mwc == nil {
		return 0
	}
	g, _ := strconv.ParseInt(mwc.Annotations[AnnotationBundleGeneration], 10, 64)
	return g
}

// inject writes the Secret's bundle into every webhook's caBundle when it differs, for example
// after a `helm upgrade` reset it. A configuration at a newer generation than this replica's
// Secret is left alone: this replica's cache lags, and writing would undo a newer rotation step.
func (r *Rotator) inject(ctx context.Context, mwc *admissionregistrationv1.MutatingWebhookConfiguration, m material, now time.Time) error {
	log := logf.FromContext(ctx)
	gen := generationOf(mwc)
	if gen > m.generation {
		log.V(1).Info("webhook configuration is ahead of this replica's secret; waiting for the cache", "configuration", gen, "secret", m.generation)
		return nil
	}
	bundle := m.bundle()
	overwritten := false
	for _, w := range mwc.Webhooks {
		overwritten = overwritten || !bytes.Equal(w.ClientConfig.CABundle, bundle)
	}
	if !overwritten && gen == m.generation {
		return nil
	}
	out := mwc.DeepCopy()
	for i := range out.Webhooks {
		out.Webhooks[i].ClientConfig.CABundle = bundle
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationBundleGeneration] = strconv.FormatInt(m.generation, 10)
	out.Annotations[AnnotationBundlePublishedAt] = now.UTC().Format(time.RFC3339Nano)
	if err := r.client.Update(ctx, out); err != nil {
		return fmt.Errorf("inject caBundle into %s: %w", mwc.Name, err)
	}
	log.Info("caBundle injected", "webhookConfiguration", mwc.Name, "generation", m.generation,
		"restored", gen == m.generation, "cas", bytes.Count(bundle, []byte("BEGIN CERTIFICATE")))
	return nil
}

// published reads the configuration live, not from the cache: a new CA may sign only once the
// API server really holds the bundle that trusts it.
func (r *Rotator) published(ctx context.Context, m material) (published, error) {
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := r.apiReader.Get(ctx, types.NamespacedName{Name: r.opts.WebhookConfigName}, &mwc); err != nil {
		if apierrors.IsNotFound(err) {
			return published{}, nil
		}
		return published{}, fmt.Errorf("read webhook configuration: %w", err)
	}
	if generationOf(&mwc) != m.generation || len(mwc.Webhooks) == 0 {
		return published{}, nil
	}
	bundle := m.bundle()
	for _, w := range mwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, bundle) {
			return published{}, nil
		}
	}
	at, err := time.Parse(time.RFC3339Nano, mwc.Annotations[AnnotationBundlePublishedAt])
	if err != nil {
		return published{}, nil
	}
	return published{current: true, at: at}, nil
}
