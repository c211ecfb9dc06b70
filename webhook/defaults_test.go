package webhook

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audit-io/wire-audit/capture/config"
)

func TestParseDefaults(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		wantErr []string
		check   func(t *testing.T, d Defaults)
	}{
		{name: "empty file takes every built-in", yaml: "", check: func(t *testing.T, d Defaults) {
			if d.Sidecar.Image != DefaultImage || d.Sidecar.Mode != ModeAuto || len(d.Capture.Protocols) != len(config.Protocols) || d.Kafka.Topic == "" {
				t.Errorf("defaults = %+v", d)
			}
		}},
		{name: "protocols replace, not merge", yaml: "capture:\n  protocols:\n    mysql: [3306]\n", check: func(t *testing.T, d Defaults) {
			if len(d.Capture.Protocols) != 1 {
				t.Errorf("protocols = %v, want only mysql", d.Capture.Protocols)
			}
		}},
		{name: "privacy reaches the rendered config", yaml: "capture:\n  privacy:\n    maxQueryLength: 512\n    maskLiterals: true\n", check: func(t *testing.T, d Defaults) {
			c := RenderConfig(&d, &Overrides{}, "shop", nil)
			if c.Privacy.MaxQueryLength != 512 || !c.Privacy.MaskLiterals {
				t.Errorf("rendered privacy = %+v", c.Privacy)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("rendered config invalid: %v", err)
			}
		}},
		{name: "negative query length", yaml: "capture:\n  privacy:\n    maxQueryLength: -5\n", wantErr: []string{`capture.privacy.maxQueryLength`}},
		{name: "bad http header and body size", yaml: "capture:\n  privacy:\n    httpHeaders: [X-Request-Id, \"bad name\"]\n    httpBodyBytes: 1000000\n",
			wantErr: []string{`capture.privacy.httpHeaders[1]`, `capture.privacy.httpBodyBytes`}},
		{name: "resources replace, so a default limit can be removed", yaml: "sidecar:\n  resources:\n    requests: {cpu: 10m}\n", check: func(t *testing.T, d Defaults) {
			if len(d.Sidecar.Resources.Limits) != 0 || len(d.Sidecar.Resources.Requests) != 1 {
				t.Errorf("resources = %+v", d.Sidecar.Resources)
			}
		}},
		{name: "the shipped config file", yaml: mustRead(t, "../config/manager/config.yaml")},
		{name: "unknown field", yaml: "sidecar:\n  imag: x\n", wantErr: []string{`unknown field "sidecar.imag"`}},
		{name: "every bad field named", yaml: `
sidecar: {imagePullPolicy: Sometimes, mode: sidecar, healthPort: 70000, resources: {requests: {memory: 1Gi}, limits: {memory: 1Mi}}}
capture: {protocols: {oracle: [27017]}, interfaces: ["a/b"]}
kafka: {brokers: ["nohost"], topic: "a b", tls: {clientCertificate: true}, sasl: {mechanism: GSSAPI}}
`, wantErr: []string{"sidecar.imagePullPolicy", "sidecar.mode", "sidecar.healthPort", "sidecar.resources.requests.memory",
			"capture.protocols.oracle", "capture.interfaces[0]", "kafka.brokers[0]", "kafka.topic", "kafka.tls.secretName",
			"kafka.sasl.mechanism", "kafka.sasl.secretName"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDefaults([]byte(tc.yaml))
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, want %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not name %q:\n%v", w, err)
					}
				}
				var fe *config.FieldError
				if len(tc.wantErr) > 1 && !errors.As(err, &fe) {
					t.Errorf("error is not a *config.FieldError: %T", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestLoadDefaultsNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "defaults.yaml")
	if err := os.WriteFile(path, []byte("kafka: {topic: \"a b\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDefaults(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "kafka.topic") {
		t.Fatalf("err = %v, want the file and the field named", err)
	}
	if _, err := LoadDefaults(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestResolveMode(t *testing.T) {
	cases := []struct {
		mode         Mode
		major, minor string
		want         Mode
		wantErr      bool
	}{
		{ModeAuto, "1", "28", ModeContainer, false},
		{ModeAuto, "1", "29", ModeNative, false},
		{ModeAuto, "1", "33+", ModeNative, false},
		{ModeAuto, "2", "0", ModeNative, false},
		{ModeNative, "1", "20", ModeNative, false},
		{ModeContainer, "1", "37", ModeContainer, false},
		{ModeAuto, "one", "29", "", true},
		{ModeAuto, "1", "", "", true},
	}
	for _, tc := range cases {
		t.Run(string(tc.mode)+"-"+tc.major+"."+tc.minor, func(t *testing.T) {
			got, err := ResolveMode(tc.mode, tc.major, tc.minor)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("ResolveMode = %q, %v; want %q, err %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestNewInjectorRejects(t *testing.T) {
	if _, err := NewInjector(InjectorOptions{Defaults: DefaultDefaults(), Mode: ModeAuto}); err == nil {
		t.Error("unresolved mode accepted")
	}
	d := DefaultDefaults()
	d.Kafka.Topic = ""
	if _, err := NewInjector(InjectorOptions{Defaults: d, Mode: ModeNative}); err == nil || !strings.Contains(err.Error(), "kafka.topic") {
		t.Errorf("err = %v, want kafka.topic named", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
