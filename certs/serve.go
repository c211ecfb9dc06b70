package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// served is the certificate this replica hands out in TLS handshakes.
type served struct {
	cert       *tls.Certificate
	leaf       *x509.Certificate
	caNotAfter time.Time
}

// GetCertificate serves the Secret's current serving certificate. Set it as the webhook
// server's tls.Config GetCertificate; every handshake then sees a rotation as soon as this
// replica's cache has the Secret, with no file and no kubelet in between.
func (r *Rotator) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s := r.served.Load()
	if s == nil {
		return nil, errors.New("no serving certificate loaded from the Secret yet")
	}
	return s.cert, nil
}

// TLSOpt sets GetCertificate, for the webhook server's TLSOpts.
func (r *Rotator) TLSOpt(c *tls.Config) { c.GetCertificate = r.GetCertificate }

// load takes the serving certificate from a Secret event. Broken or expired material is not
// served; the last good certificate stays until the reconciler has repaired the Secret.
func (r *Rotator) load(log logr.Logger, obj any) {
	s, ok := obj.(*corev1.Secret)
	if !ok || s.Namespace != r.opts.Namespace || s.Name != r.opts.SecretName {
		return
	}
	now := r.opts.Now()
	kp, err := parseKeyPair(s.Data[KeyServingCert], s.Data[KeyServingKey], now)
	if err != nil {
		log.V(1).Info("not serving the Secret's certificate", "secret", s.Name, "problem", err.Error())
		return
	}
	if cur := r.served.Load(); cur != nil && cur.leaf.SerialNumber.Cmp(kp.cert.SerialNumber) == 0 {
		return
	}
	pair, err := tls.X509KeyPair(kp.certPEM, kp.keyPEM)
	if err != nil {
		return
	}
	next := &served{cert: &pair, leaf: kp.cert}
	if ca, err := parseCert(s.Data[KeyCACert], now); err == nil {
		next.caNotAfter = ca.NotAfter
	}
	r.served.Store(next)
	log.Info("serving certificate loaded", "serial", kp.cert.SerialNumber.Text(16), "issuer", kp.cert.Issuer.CommonName,
		"notAfter", kp.cert.NotAfter.UTC().Format(time.RFC3339))
}

// ReadyCheck is a healthz.Checker: ready only while this replica serves a valid certificate
// that chains to the caBundle of every webhook in the configuration, so that the API server
// would trust the next handshake.
func (r *Rotator) ReadyCheck(req *http.Request) error {
	s := r.served.Load()
	if s == nil {
		return errors.New("no serving certificate loaded yet")
	}
	now := r.opts.Now()
	if err := checkValidity(s.leaf, now); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := r.client.Get(ctx, types.NamespacedName{Name: r.opts.WebhookConfigName}, &mwc); err != nil {
		return fmt.Errorf("read webhook configuration %s: %w", r.opts.WebhookConfigName, err)
	}
	if len(mwc.Webhooks) == 0 {
		return fmt.Errorf("webhook configuration %s has no webhooks", mwc.Name)
	}
	for _, w := range mwc.Webhooks {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(w.ClientConfig.CABundle) {
			return fmt.Errorf("webhook %s: caBundle holds no certificate", w.Name)
		}
		if err := chainsTo(s.leaf, roots, now); err != nil {
			return fmt.Errorf("webhook %s: served certificate %s: %w", w.Name, s.leaf.SerialNumber.Text(16), err)
		}
	}
	return nil
}
