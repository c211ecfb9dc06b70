package chart

import (
	"strings"
	"testing"
)

// TestLint runs helm lint, plain and --strict, in every certificate mode.
func TestLint(t *testing.T) {
	modes := map[string][]string{
		"builtin":      nil,
		"cert-manager": {"--set", "certificates.mode=cert-manager", "--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=true"},
		"secret":       secretMode("my-tls"),
	}
	for mode, flags := range modes {
		for _, strict := range []bool{false, true} {
			name := mode
			args := append([]string{"lint", chartDir, "--kube-version", kubeVersion}, flags...)
			if strict {
				name += "/strict"
				args = append(args, "--strict")
			}
			t.Run(name, func(t *testing.T) {
				out, err := helm(t, args...)
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				if !strings.Contains(string(out), "1 chart(s) linted, 0 chart(s) failed") {
					t.Fatalf("helm lint did not report a clean chart:\n%s", out)
				}
				for line := range strings.SplitSeq(string(out), "\n") {
					// The only accepted remark: no icon (there is no logo to point at).
					if strings.HasPrefix(line, "[") && !strings.Contains(line, "icon is recommended") {
						t.Errorf("helm lint: %s", line)
					}
				}
			})
		}
	}
}

// TestLintRejectsBadValues: helm lint applies the schema too, so CI linting a values file
// catches what helm install would.
func TestLintRejectsBadValues(t *testing.T) {
	out, err := helm(t, "lint", chartDir, "--kube-version", kubeVersion, "--set", "webhook.failurePolicy=Sometimes")
	if err == nil {
		t.Fatalf("helm lint accepted webhook.failurePolicy=Sometimes:\n%s", out)
	}
	if !strings.Contains(string(out)+err.Error(), "/webhook/failurePolicy") {
		t.Fatalf("helm lint's error does not name webhook.failurePolicy: %v\n%s", err, out)
	}
}

// TestKubeVersion: the chart installs on 1.28 (matchConditions on by default) and refuses 1.27.
func TestKubeVersion(t *testing.T) {
	if _, err := helm(t, "template", "wire-audit", chartDir, "--kube-version", "1.28.0"); err != nil {
		t.Errorf("Kubernetes 1.28: %v", err)
	}
	_, err := helm(t, "template", "wire-audit", chartDir, "--kube-version", "1.27.9")
	if err == nil || !strings.Contains(err.Error(), "kubeVersion") {
		t.Errorf("Kubernetes 1.27: err = %v, want the chart's kubeVersion refused", err)
	}
}
