package certs

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Keys of the Secret. tls.crt, tls.key and ca.crt keep the names cert-manager and
// `kubectl create secret tls` use, so the same Secret also works in files mode.
const (
	KeyServingCert = "tls.crt"
	KeyServingKey  = "tls.key"
	// KeyCACert and KeyCAKey are the CA that signs the serving certificate now.
	KeyCACert = "ca.crt"
	KeyCAKey  = "ca.key"
	// KeyNextCACert and KeyNextCAKey are a new CA, published in caBundle but not yet signing.
	KeyNextCACert = "ca-next.crt"
	KeyNextCAKey  = "ca-next.key"
	// KeyPreviousCACert is the CA that signed until the last switch, still in caBundle until
	// every replica serves with the new one.
	KeyPreviousCACert = "ca-previous.crt"
)

// Annotations on the Secret and on the MutatingWebhookConfiguration.
const (
	// AnnotationRotate on the Secret asks for a rotation: "serving" re-issues the serving
	// certificate, "ca" starts a CA rotation. The rotator removes it once done.
	// Example: kubectl annotate secret wire-audit-webhook-server-cert audit.io/rotate=ca
	AnnotationRotate = "audit.io/rotate"
	// AnnotationBundleGeneration counts changes of the set of trusted CAs. On the Secret it is
	// the generation the Secret asks for; on the webhook configuration, the generation its
	// caBundle holds. A replica whose cache lags never writes an older bundle over a newer one.
	AnnotationBundleGeneration = "audit.io/ca-bundle-generation"
	// AnnotationBundlePublishedAt on the webhook configuration is when caBundle was last
	// written (RFC 3339); a new CA signs only Overlap after that.
	AnnotationBundlePublishedAt = "audit.io/ca-bundle-published-at"
	// AnnotationPreviousSince on the Secret is when the previous CA stopped signing (RFC 3339).
	AnnotationPreviousSince = "audit.io/ca-previous-since"
)

// Values of AnnotationRotate.
const (
	RotateServing = "serving"
	RotateCA      = "ca"
)

// material is the Secret's content, parsed. A nil field is absent or broken; problems says which.
type material struct {
	ca, next, serving *keyPair
	previous          *x509.Certificate
	previousPEM       []byte
	generation        int64
	previousSince     time.Time
	rotate            string
}

// problems holds why each part of the Secret is unusable; errMissing when it is absent.
type problems struct {
	ca, next, previous, serving error
}

// parseSecret reads a Secret (nil when there is none) as of now. The serving certificate
// counts only if its CA signed it and it covers hosts.
func parseSecret(s *corev1.Secret, hosts []string, now time.Time) (material, problems) {
	var m material
	var p problems
	if s == nil {
		return m, problems{ca: errMissing, next: errMissing, previous: errMissing, serving: errMissing}
	}
	d := s.Data
	m.ca, p.ca = parseKeyPair(d[KeyCACert], d[KeyCAKey], now)
	if p.ca == nil && !m.ca.cert.IsCA {
		m.ca, p.ca = nil, errors.New("ca.crt is not a CA certificate")
	}
	m.next, p.next = parseKeyPair(d[KeyNextCACert], d[KeyNextCAKey], now)
	if len(d[KeyPreviousCACert]) == 0 {
		p.previous = errMissing
	} else if m.previous, p.previous = parseCert(d[KeyPreviousCACert], now); p.previous == nil {
		m.previousPEM = d[KeyPreviousCACert]
	}
	m.serving, p.serving = parseKeyPair(d[KeyServingCert], d[KeyServingKey], now)
	if p.serving == nil && m.ca != nil {
		roots := x509.NewCertPool()
		roots.AddCert(m.ca.cert)
		if err := chainsTo(m.serving.cert, roots, now); err != nil {
			m.serving, p.serving = nil, fmt.Errorf("tls.crt was not signed by ca.crt: %w", err)
		} else if h := covers(m.serving.cert, hosts); h != "" {
			m.serving, p.serving = nil, fmt.Errorf("tls.crt does not cover host %q", h)
		}
	}
	m.generation, _ = strconv.ParseInt(s.Annotations[AnnotationBundleGeneration], 10, 64)
	m.previousSince, _ = time.Parse(time.RFC3339Nano, s.Annotations[AnnotationPreviousSince])
	m.rotate = s.Annotations[AnnotationRotate]
	return m, p
}

// bundle is what caBundle must hold: every CA that signs, will sign, or signed until recently,
// oldest first, so that the bytes do not change when the new CA takes over signing.
func (m *material) bundle() []byte {
	var b bytes.Buffer
	b.Write(m.previousPEM)
	if m.ca != nil {
		b.Write(m.ca.certPEM)
	}
	if m.next != nil {
		b.Write(m.next.certPEM)
	}
	return b.Bytes()
}

// write returns a copy of s (or a new Secret) that holds m.
func (m *material) write(s *corev1.Secret, namespace, name string) *corev1.Secret {
	out := &corev1.Secret{}
	if s != nil {
		out = s.DeepCopy()
	}
	out.Namespace, out.Name = namespace, name
	data := map[string][]byte{}
	put := func(k string, v []byte) {
		if len(v) > 0 {
			data[k] = v
		}
	}
	put(KeyCACert, m.ca.certPEM)
	put(KeyCAKey, m.ca.keyPEM)
	put(KeyServingCert, m.serving.certPEM)
	put(KeyServingKey, m.serving.keyPEM)
	if m.next != nil {
		put(KeyNextCACert, m.next.certPEM)
		put(KeyNextCAKey, m.next.keyPEM)
	}
	put(KeyPreviousCACert, m.previousPEM)
	// Keys we do not own are kept; only ours are replaced.
	for _, k := range []string{KeyCACert, KeyCAKey, KeyServingCert, KeyServingKey, KeyNextCACert, KeyNextCAKey, KeyPreviousCACert} {
		delete(out.Data, k)
	}
	if out.Data == nil {
		out.Data = map[string][]byte{}
	}
	maps.Copy(out.Data, data)
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[AnnotationBundleGeneration] = strconv.FormatInt(m.generation, 10)
	if m.previous != nil {
		out.Annotations[AnnotationPreviousSince] = m.previousSince.UTC().Format(time.RFC3339Nano)
	} else {
		delete(out.Annotations, AnnotationPreviousSince)
	}
	if m.rotate == "" {
		delete(out.Annotations, AnnotationRotate)
	}
	return out
}
