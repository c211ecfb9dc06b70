package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/audit-io/wire-audit/certs"
	"github.com/audit-io/wire-audit/internal/testenv"
)

// TestRotatorLeastPrivilege runs the rotator with only the RBAC that config/default grants it,
// its own Secret and its own webhook configuration by name, and with the names config/default
// gives them, which are the flag defaults. It must still become ready.
func TestRotatorLeastPrivilege(t *testing.T) {
	e := getEnv(t)
	ctx := context.Background()
	kustomize := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kustomize")
	if _, err := os.Stat(kustomize); err != nil {
		testenv.Missing(t, "no kustomize in KUBEBUILDER_ASSETS (make kustomize installs it): %v", err)
	}
	out, err := exec.Command(kustomize, "build", "../../config/default").Output()
	if err != nil {
		t.Fatalf("kustomize build config/default: %v", err)
	}
	ns := namespace(t, e, "rbac-test", nil)
	const user = "rotator-rbac"
	var secretName, configName string
	for doc := range strings.SplitSeq(string(out), "\n---\n") {
		var head struct {
			Kind     string            `json:"kind"`
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(head.Metadata.Name, "cert-rotator") && head.Kind != "Secret" {
			continue
		}
		switch head.Kind {
		case "Role":
			var r rbacv1.Role
			mustUnmarshal(t, doc, &r)
			r.Namespace = ns
			secretName = r.Rules[0].ResourceNames[0]
			if _, err := e.Clients.RbacV1().Roles(ns).Create(ctx, &r, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "ClusterRole":
			var r rbacv1.ClusterRole
			mustUnmarshal(t, doc, &r)
			configName = r.Rules[0].ResourceNames[0]
			if _, err := e.Clients.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "RoleBinding":
			var b rbacv1.RoleBinding
			mustUnmarshal(t, doc, &b)
			b.Namespace, b.Subjects = ns, []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: user}}
			if _, err := e.Clients.RbacV1().RoleBindings(ns).Create(ctx, &b, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			mustUnmarshal(t, doc, &b)
			b.Subjects = []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: user}}
			if _, err := e.Clients.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		case "Secret":
			var s corev1.Secret
			mustUnmarshal(t, doc, &s)
			s.Namespace = ns
			if _, err := e.Clients.CoreV1().Secrets(ns).Create(ctx, &s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if secretName != "wire-audit-webhook-server-cert" || configName != "wire-audit-mutating-webhook-configuration" {
		t.Fatalf("config/default grants secret %q and configuration %q; the flag defaults in cmd/webhook name others", secretName, configName)
	}
	twinConfig(t, e, configName)
	kubeconfig, err := e.UserKubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	// The control: RBAC is enforced here, so this user cannot list every Secret.
	raw, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	restricted, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := kubernetes.NewForConfig(restricted)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("listing all Secrets as %s: err = %v, want Forbidden; the test would prove nothing", user, err)
	}
	r, err := e.StartWebhook(0, nil, "--config=../../config/manager/config.yaml", "--kubeconfig="+kubeconfig, "--namespace="+ns,
		"--cert-extra-sans=localhost,127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	if err := r.WaitReady(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	s, err := e.Clients.CoreV1().Secrets(ns).Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Data[certs.KeyCACert]) == 0 || len(s.Data[certs.KeyServingCert]) == 0 {
		t.Errorf("the shipped Secret was not filled: keys %v", len(s.Data))
	}
	if strings.Contains(r.Log(), "forbidden") {
		t.Errorf("the rotator hit a forbidden request:\n%s", r.Log())
	}
}

func mustUnmarshal(t *testing.T, doc string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatal(err)
	}
}
