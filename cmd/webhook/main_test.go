package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadConfigFailsClearly runs the real binary with broken defaults files: it must exit
// non-zero at start-up, before it touches any cluster, with an error naming the file and field.
func TestBadConfigFailsClearly(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "webhook")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cases := []struct {
		name, config string
		want         []string
	}{
		{"unknown field", "sidecar:\n  imagePullPolicy: Always\n  mod: native\n", []string{`unknown field "sidecar.mod"`}},
		{"bad values", "sidecar: {mode: sometimes}\nkafka: {brokers: [kafka], topic: \"a b\"}\n",
			[]string{`"sidecar.mode"`, `"kafka.brokers[0]"`, `"kafka.topic"`}},
		{"not yaml", "sidecar: [\n", []string{"parse defaults"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "--config="+path, "--kubeconfig=/nonexistent")
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("webhook started with a bad config:\n%s", out)
			}
			for _, want := range append(tc.want, path) {
				if !strings.Contains(string(out), want) {
					t.Errorf("output does not contain %q:\n%s", want, out)
				}
			}
		})
	}
}
