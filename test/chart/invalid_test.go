package chart

import (
	"strings"
	"testing"
)

// TestInvalidValues: values.schema.json and the templates' checks refuse bad values, and the
// message names the value (the schema says it as a JSON pointer, the templates as a dotted path).
func TestInvalidValues(t *testing.T) {
	set := func(kv ...string) []string {
		var f []string
		for _, s := range kv {
			f = append(f, "--set", s)
		}
		return f
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  []string
	}{
		// Schema.
		{name: "unknown mode", flags: set("certificates.mode=bogus"), want: []string{"/certificates/mode", "builtin", "cert-manager", "secret"}},
		{name: "failurePolicy", flags: set("webhook.failurePolicy=Sometimes"), want: []string{"/webhook/failurePolicy", "Fail", "Ignore"}},
		{name: "negative replicas", flags: set("replicaCount=-1"), want: []string{"/replicaCount", "minimum"}},
		{name: "replicas not a number", flags: set("replicaCount=two"), want: []string{"/replicaCount"}},
		{name: "port out of range", flags: set("capture.protocols.mysql[0]=70000"), want: []string{"/capture/protocols/mysql/0", "65,535"}},
		{name: "port zero", flags: set("webhook.port=0"), want: []string{"/webhook/port", "minimum"}},
		{name: "port a string", flags: set("metrics.port=https"), want: []string{"/metrics/port"}},
		{name: "unknown protocol", flags: set("capture.protocols.ftp[0]=21"), want: []string{"/capture/protocols", "ftp"}},
		{name: "sidecar mode", flags: set("sidecar.mode=sometimes"), want: []string{"/sidecar/mode", "auto", "native", "container"}},
		{name: "sasl mechanism", flags: set("kafka.sasl.mechanism=GSSAPI"), want: []string{"/kafka/sasl/mechanism", "SCRAM-SHA-512"}},
		{name: "broker without port", flags: set("kafka.brokers={kafka}"), want: []string{"/kafka/brokers/0"}},
		{name: "topic", flags: set("kafka.topic=a b"), want: []string{"/kafka/topic"}},
		{name: "no brokers", flags: set("kafka.brokers=null"), want: []string{"brokers"}},
		{name: "interface name", flags: set("capture.interfaces={eth0/1}"), want: []string{"/capture/interfaces/0"}},
		{name: "duration", flags: set("certificates.builtin.caOverlap=1minute"), want: []string{"/certificates/builtin/caOverlap"}},
		{name: "timeout", flags: set("webhook.timeoutSeconds=31"), want: []string{"/webhook/timeoutSeconds"}},
		{name: "pull policy", flags: set("sidecar.imagePullPolicy=Sometimes"), want: []string{"/sidecar/imagePullPolicy"}},
		{name: "quantity", flags: set("sidecar.resources.limits.memory=lots"), want: []string{"/sidecar/resources/limits/memory"}},
		{name: "misspelt value", flags: set("sidecar.imag=x"), want: []string{"/sidecar", "imag"}},
		{name: "caBundle not PEM", flags: set("certificates.mode=secret", "certificates.secret.name=t", "certificates.caBundle=LS0tLS1CRUdJTg=="), want: []string{"/certificates/caBundle"}},
		// Combinations, refused by the templates.
		{name: "secret mode without a Secret", flags: append(set("certificates.mode=secret"), "--set-file", "certificates.caBundle="+testCA), want: []string{"certificates.secret.name"}},
		{name: "secret mode without caBundle", flags: set("certificates.mode=secret", "certificates.secret.name=t"), want: []string{"certificates.caBundle"}},
		{name: "builtin mode with caBundle", flags: []string{"--set-file", "certificates.caBundle=" + testCA}, want: []string{"certificates.caBundle", "certificates.mode=builtin"}},
		{name: "cert-manager mode with caBundle", flags: append(set("certificates.mode=cert-manager"), "--set-file", "certificates.caBundle="+testCA), want: []string{"certificates.caBundle", "certificates.mode=cert-manager"}},
		{name: "builtin mode with a Secret name", flags: set("certificates.secret.name=t"), want: []string{"certificates.secret.name", "certificates.mode=builtin"}},
		{name: "PodDisruptionBudget blocks drains", flags: set("replicaCount=1"), want: []string{"podDisruptionBudget.minAvailable", "replicaCount"}},
		{name: "SASL without a Secret", flags: set("kafka.sasl.mechanism=PLAIN"), want: []string{"kafka.sasl.secretName"}},
		{name: "SASL Secret without mechanism", flags: set("kafka.sasl.secretName=u"), want: []string{"kafka.sasl.mechanism"}},
		{name: "client certificate without TLS Secret", flags: set("kafka.tls.clientCertificate=true"), want: []string{"kafka.tls.secretName"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := template(t, "bad", "bad", tc.flags...)
			if err == nil {
				t.Fatalf("helm template accepted %v:\n%.400s", tc.flags, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say %q: %v", w, err)
				}
			}
		})
	}
}
