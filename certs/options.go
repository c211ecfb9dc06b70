// Package certs owns the webhook's TLS material in built-in mode: a CA and a short-lived serving
// certificate kept in one Secret, the CA injected into the MutatingWebhookConfiguration's
// caBundle, renewal ahead of expiry, CA rotation with an overlap, and a GetCertificate that
// serves whatever the Secret holds now, so that a rotation needs no restart and no kubelet.
package certs

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Rotator. Zero values take the defaults given on each field.
type Options struct {
	// Namespace and SecretName locate the Secret holding the CA and serving certificate.
	// Required.
	Namespace, SecretName string
	// WebhookConfigName is the MutatingWebhookConfiguration whose caBundle is kept in step.
	// Required.
	WebhookConfigName string
	// ServiceName is the webhook's Service; the serving certificate covers its DNS names in
	// Namespace. Required.
	ServiceName string
	// ExtraHosts are further DNS names or IP addresses for the serving certificate, for a
	// webhook the API server reaches by URL.
	ExtraHosts []string
	// CAValidity is how long a new CA is valid. Default 10 years.
	CAValidity time.Duration
	// ServingValidity is how long a new serving certificate is valid. Default 24 hours.
	ServingValidity time.Duration
	// Lookahead renews a serving certificate when less than this is left of it. A CA is
	// rotated when less than ServingValidity+Lookahead is left, so that a serving certificate
	// never has to be cut short to fit its CA. Default 8 hours.
	Lookahead time.Duration
	// Overlap is how long both CAs are trusted before each step of a CA rotation: from
	// publishing the new CA in caBundle to serving with it (API servers must pick up the
	// bundle), and from serving with it to dropping the old CA (every replica must switch).
	// Default 1 minute.
	Overlap time.Duration
	// Registerer receives the metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() error {
	var errs []error
	for name, v := range map[string]string{"Namespace": o.Namespace, "SecretName": o.SecretName, "WebhookConfigName": o.WebhookConfigName, "ServiceName": o.ServiceName} {
		if v == "" {
			errs = append(errs, fmt.Errorf("certs: %s is required", name))
		}
	}
	if o.CAValidity == 0 {
		o.CAValidity = 10 * 365 * 24 * time.Hour
	}
	if o.ServingValidity == 0 {
		o.ServingValidity = 24 * time.Hour
	}
	if o.Lookahead == 0 {
		o.Lookahead = 8 * time.Hour
	}
	if o.Overlap == 0 {
		o.Overlap = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lookahead >= o.ServingValidity {
		errs = append(errs, fmt.Errorf("certs: lookahead %s must be shorter than the serving validity %s", o.Lookahead, o.ServingValidity))
	}
	if o.CAValidity <= 2*(o.ServingValidity+o.Lookahead) {
		errs = append(errs, fmt.Errorf("certs: CA validity %s must exceed twice serving validity plus lookahead", o.CAValidity))
	}
	return errors.Join(errs...)
}

// hosts are the names the serving certificate must cover: the Service's names as the API
// server and in-cluster clients spell them, then ExtraHosts.
func (o *Options) hosts() []string {
	svc, ns := o.ServiceName, o.Namespace
	return append([]string{svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local", svc + "." + ns, svc}, o.ExtraHosts...)
}

// caLookahead is when a CA starts its rotation: early enough that the last serving
// certificate it signs still gets its full validity.
func (o *Options) caLookahead() time.Duration { return o.ServingValidity + o.Lookahead }
