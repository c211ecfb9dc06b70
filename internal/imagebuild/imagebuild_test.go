package imagebuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDestination(t *testing.T) {
	const tag = "ghcr.io/audit-io/wire-audit-webhook:v0.1.0"
	for _, tc := range []struct {
		name, registry, want, errHas string
	}{
		{name: "host and path", registry: "registry.example/wire-audit", want: "registry.example/wire-audit/wire-audit-webhook:v0.1.0"},
		{name: "host with port", registry: "127.0.0.1:5000", want: "127.0.0.1:5000/wire-audit-webhook:v0.1.0"},
		{name: "localhost", registry: "localhost/team", want: "localhost/team/wire-audit-webhook:v0.1.0"},
		{name: "empty", registry: "", errHas: "REGISTRY is empty"},
		{name: "scheme", registry: "https://registry.example/x", errHas: `REGISTRY "https://registry.example/x"`},
		{name: "trailing slash", registry: "registry.example/x/", errHas: `REGISTRY "registry.example/x/"`},
		{name: "digest", registry: "registry.example/x@sha256:00", errHas: `REGISTRY "registry.example/x@sha256:00"`},
		{name: "upper case path", registry: "registry.example/Wire", errHas: `REGISTRY "registry.example/Wire"`},
		{name: "no host", registry: "wire-audit", errHas: `REGISTRY "wire-audit" gives the image name "wire-audit/wire-audit-webhook:v0.1.0": strict validation requires the registry`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Destination(tc.registry, tag)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("Destination(%q) = %v, %v; want an error containing %q", tc.registry, got, err, tc.errHas)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("Destination(%q) = %v, %v; want %s", tc.registry, got, err, tc.want)
			}
		})
	}
}

// A bad REGISTRY is refused before anything is sent.
func TestPushBadRegistry(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "capture")
	if err := os.WriteFile(bin, []byte("not really a binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := Build(Capture, Options{Binary: bin})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "capture.tar")
	if err := Write(img, "ghcr.io/audit-io/wire-audit-capture:v1", file); err != nil {
		t.Fatal(err)
	}
	_, _, err = Push(context.Background(), file, "http://registry.example")
	if err == nil || !strings.Contains(err.Error(), `REGISTRY "http://registry.example"`) {
		t.Fatalf("Push to http://registry.example: %v, want an error naming REGISTRY", err)
	}
}

func TestBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "webhook")
	if err := os.WriteFile(bin, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	digest := func(opts Options) string {
		img, err := Build(Webhook, opts)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	a, b := digest(Options{Binary: bin}), digest(Options{Binary: bin})
	if a != b {
		t.Errorf("two builds from the same inputs: %s and %s", a, b)
	}
	if c := digest(Options{Binary: bin, Created: time.Unix(1700000000, 0)}); c == a {
		t.Errorf("the build time does not reach the image (%s both)", c)
	}
	if _, err := Build(Webhook, Options{}); err == nil {
		t.Error("Build without a binary succeeded")
	}
	if _, err := Build(Webhook, Options{Binary: bin, Zoneinfo: filepath.Join(t.TempDir(), "none")}); err == nil || !strings.Contains(err.Error(), "tzdata") {
		t.Errorf("Build without zoneinfo: %v, want an error naming tzdata", err)
	}
	if err := Write(nil, "Not A Tag", filepath.Join(t.TempDir(), "x.tar")); err == nil || !strings.Contains(err.Error(), `"Not A Tag"`) {
		t.Errorf("Write with a bad name: %v, want an error naming it", err)
	}
}
