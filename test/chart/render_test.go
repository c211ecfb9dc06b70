// Package chart tests charts/wire-audit with the real helm binary (make helm installs it into
// bin/): lint, rendering of every certificate mode and a matrix of values, the schema's and the
// templates' refusals, the rendered objects against a real kube-apiserver, and the webhook
// binary running with the chart's RBAC, arguments and cluster defaults.
package chart

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/audit-io/wire-audit/internal/testenv"
)

const (
	chartDir = "../../charts/wire-audit"
	// kubeVersion is what helm template and lint are told the cluster runs, so that results do
	// not depend on how the helm binary was built (a go install without make helm's -ldflags
	// assumes v1.20, below the chart's kubeVersion).
	kubeVersion = "1.30.0"
	testCA      = "testdata/ca.crt"
)

// helmBin is $HELM, or helm in KUBEBUILDER_ASSETS (bin/, where make helm puts it).
func helmBin(t *testing.T) string {
	t.Helper()
	path := os.Getenv("HELM")
	if path == "" {
		path = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "helm")
	}
	if _, err := os.Stat(path); err != nil || os.Getenv("KUBEBUILDER_ASSETS") == "" && os.Getenv("HELM") == "" {
		testenv.Missing(t, "no helm binary (make helm installs it into bin/; make test sets KUBEBUILDER_ASSETS=bin): %v", err)
	}
	return path
}

// helm runs the helm binary and returns its stdout, or an error carrying its stderr.
func helm(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// helm keeps caches and repository settings under HOME; keep them out of the user's.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// template renders the chart as release in namespace ns with extra helm flags (--set ...).
func template(t *testing.T, release, ns string, flags ...string) ([]byte, error) {
	t.Helper()
	args := append([]string{"template", release, chartDir, "--namespace", ns, "--kube-version", kubeVersion}, flags...)
	return helm(t, args...)
}

// mustRender renders and parses, failing the test on an error.
func mustRender(t *testing.T, release, ns string, flags ...string) *rendered {
	t.Helper()
	out, err := template(t, release, ns, flags...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := parse(out)
	if err != nil {
		t.Fatalf("parse the rendered chart: %v\n%s", err, out)
	}
	return r
}

// secretMode are the flags of a valid certificates.mode=secret install.
func secretMode(name string) []string {
	return []string{"--set", "certificates.mode=secret", "--set", "certificates.secret.name=" + name, "--set-file", "certificates.caBundle=" + testCA}
}

// object is one rendered document: typed for the kinds client-go knows (decoded strictly, so
// a misspelt field fails), unstructured for the CRD kinds (cert-manager, ServiceMonitor).
type object struct {
	GVK   schema.GroupVersionKind
	Name  string
	NS    string
	Typed runtime.Object
	U     *unstructured.Unstructured
	YAML  []byte
}

// rendered is a parsed helm template output.
type rendered struct {
	objs []object
}

func parse(out []byte) (*rendered, error) {
	r := &rendered{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(out)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return r, nil
		}
		if err != nil {
			return nil, err
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &u.Object); err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		if len(u.Object) == 0 {
			continue // a document of comments only
		}
		o := object{GVK: u.GroupVersionKind(), Name: u.GetName(), NS: u.GetNamespace(), U: &u, YAML: doc}
		if typed, err := clientgoscheme.Scheme.New(o.GVK); err == nil {
			if err := yaml.UnmarshalStrict(doc, typed); err != nil {
				return nil, fmt.Errorf("%s %s: %w", o.GVK.Kind, o.Name, err)
			}
			o.Typed = typed
		}
		r.objs = append(r.objs, o)
	}
}

// get returns the one object of kind with name, or fails.
func (r *rendered) get(t *testing.T, kind, name string) object {
	t.Helper()
	var found []object
	for _, o := range r.objs {
		if o.GVK.Kind == kind && (name == "" || o.Name == name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q, the chart rendered %d (%s)", kind, name, len(found), r.kinds())
	}
	return found[0]
}

// all returns every object of kind.
func (r *rendered) all(kind string) []object {
	var found []object
	for _, o := range r.objs {
		if o.GVK.Kind == kind {
			found = append(found, o)
		}
	}
	return found
}

func (r *rendered) kinds() string {
	var s []string
	for _, o := range r.objs {
		s = append(s, o.GVK.Kind+"/"+o.Name)
	}
	return strings.Join(s, ", ")
}

// deployment returns the webhook Deployment and its manager container.
func (r *rendered) deployment(t *testing.T) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d := r.get(t, "Deployment", "").Typed.(*appsv1.Deployment)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", n)
	}
	return d, &d.Spec.Template.Spec.Containers[0]
}

// flags parses --name=value arguments into a map; a flag given twice fails.
func flags(t *testing.T, args []string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Fatalf("argument %q is not --flag=value", a)
		}
		if _, dup := m[name]; dup {
			t.Fatalf("flag --%s given twice in %q", name, args)
		}
		m[name] = value
	}
	return m
}
