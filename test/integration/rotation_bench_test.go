package integration

import (
	"bytes"
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/audit-io/wire-audit/certs"
	"github.com/audit-io/wire-audit/internal/latency"
	"github.com/audit-io/wire-audit/test/cluster"
)

// BenchmarkForcedRotation measures, per forced rotation, the time from the rotate annotation
// landing in the API server to the webhook serving the new certificate in a TLS handshake.
// serving: a new serving certificate from the same CA. ca: serving from a new CA, which waits
// one --ca-overlap (cluster.CAOverlap here) by design, and "done" when the old CA has left caBundle.
func BenchmarkForcedRotation(b *testing.B) {
	e := getEnv(b)
	logf.SetLogger(logr.Discard())
	c, err := client.New(e.Config, client.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	cases := []struct {
		what    string
		changed func(before, now *x509.Certificate) bool
	}{
		{certs.RotateServing, func(before, now *x509.Certificate) bool { return now.SerialNumber.Cmp(before.SerialNumber) != 0 }},
		{certs.RotateCA, func(before, now *x509.Certificate) bool { return now.Issuer.CommonName != before.Issuer.CommonName }},
	}
	for _, tc := range cases {
		b.Run(tc.what, func(b *testing.B) {
			served, done := latency.NewRecorder(b.N), latency.NewRecorder(b.N)
			for b.Loop() {
				before := servedCert(b, e.WebhookAddr)
				if err := certs.RequestRotation(ctx, c, cluster.Namespace, cluster.SecretName, tc.what); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				waitServed(b, e.WebhookAddr, "the rotated certificate", func(now *x509.Certificate) bool { return tc.changed(before, now) })
				served.Add(time.Since(start))
				if tc.what == certs.RotateCA {
					waitFor(b, 60*time.Second, "the old CA to leave caBundle", func() (bool, error) { return oldCADropped(b, e), nil })
					done.Add(time.Since(start))
				}
			}
			served.Report(b, "to-served-", time.Millisecond, "ms")
			b.ReportMetric(float64(served.Percentile(100))/float64(time.Millisecond), "to-served-max-ms")
			if done.Len() > 0 {
				done.Report(b, "to-done-", time.Millisecond, "ms")
			}
			// Each operation waits on purpose, so ns/op says nothing.
			b.ReportMetric(0, "ns/op")
		})
	}
}

// oldCADropped reports whether a CA rotation has finished: no previous CA in the Secret and
// caBundle holding only the current one.
func oldCADropped(tb testing.TB, e *cluster.Cluster) bool {
	s := getSecret(tb, e, cluster.SecretName)
	if _, ok := s.Data[certs.KeyPreviousCACert]; ok {
		return false
	}
	for _, w := range getConfig(tb, e, cluster.ConfigName).Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, s.Data[certs.KeyCACert]) {
			return false
		}
	}
	return true
}
