package chart

import (
	"sort"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/audit-io/wire-audit/webhook"
)

// names are what a release's objects are called.
type names struct {
	fullname, ns, secret, config, service, sa string
}

func namesOf(fullname, ns string) names {
	return names{
		fullname: fullname, ns: ns,
		secret:  fullname + "-webhook-server-cert",
		config:  fullname + "-mutating-webhook-configuration",
		service: fullname + "-webhook-service",
		sa:      fullname + "-webhook",
	}
}

// rule is a comparable form of a PolicyRule.
func rule(r rbacv1.PolicyRule) string {
	return strings.Join([]string{
		"groups=" + strings.Join(r.APIGroups, ","), "resources=" + strings.Join(r.Resources, ","),
		"names=" + strings.Join(r.ResourceNames, ","), "urls=" + strings.Join(r.NonResourceURLs, ","),
		"verbs=" + strings.Join(r.Verbs, ","),
	}, " ")
}

// grantedRules returns the rules of every Role and ClusterRole bound to the ServiceAccount,
// prefixed with the scope they apply in. A binding to a role the chart does not render fails.
func grantedRules(t *testing.T, r *rendered, n names) []string {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{}
	for _, o := range r.all("Role") {
		roles["Role/"+o.Name] = o.Typed.(*rbacv1.Role).Rules
	}
	for _, o := range r.all("ClusterRole") {
		roles["ClusterRole/"+o.Name] = o.Typed.(*rbacv1.ClusterRole).Rules
	}
	var got []string
	bound := func(scope string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		for _, s := range subjects {
			if s.Kind != rbacv1.ServiceAccountKind || s.Name != n.sa || s.Namespace != n.ns {
				t.Errorf("%s binds %s %s/%s, not the chart's ServiceAccount %s/%s", scope, s.Kind, s.Namespace, s.Name, n.ns, n.sa)
			}
		}
		rules, ok := roles[ref.Kind+"/"+ref.Name]
		if !ok {
			t.Errorf("%s refers to %s %s, which the chart does not render", scope, ref.Kind, ref.Name)
		}
		for _, rl := range rules {
			got = append(got, scope+": "+rule(rl))
		}
	}
	for _, o := range r.all("RoleBinding") {
		b := o.Typed.(*rbacv1.RoleBinding)
		if b.Namespace != n.ns {
			t.Errorf("RoleBinding %s is in %q, not the release namespace", b.Name, b.Namespace)
		}
		bound("namespace", b.RoleRef, b.Subjects)
	}
	for _, o := range r.all("ClusterRoleBinding") {
		b := o.Typed.(*rbacv1.ClusterRoleBinding)
		bound("cluster", b.RoleRef, b.Subjects)
	}
	sort.Strings(got)
	return got
}

var metricsAuthRules = []string{
	"cluster: groups=authentication.k8s.io resources=tokenreviews names= urls= verbs=create",
	"cluster: groups=authorization.k8s.io resources=subjectaccessreviews names= urls= verbs=create",
}

func rotatorRules(n names) []string {
	return []string{
		"cluster: groups=admissionregistration.k8s.io resources=mutatingwebhookconfigurations names=" + n.config + " urls= verbs=get,list,watch,update",
		"namespace: groups= resources=secrets names=" + n.secret + " urls= verbs=get,list,watch,update",
	}
}

func webhookConfig(t *testing.T, r *rendered) (*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhook) {
	t.Helper()
	c := r.get(t, "MutatingWebhookConfiguration", "").Typed.(*admissionregistrationv1.MutatingWebhookConfiguration)
	if len(c.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(c.Webhooks))
	}
	return c, &c.Webhooks[0]
}

// defaultsOf parses the rendered ConfigMap's config.yaml the way the webhook does (--config).
func defaultsOf(t *testing.T, r *rendered) webhook.Defaults {
	t.Helper()
	cm := r.get(t, "ConfigMap", "").Typed.(*corev1.ConfigMap)
	d, err := webhook.ParseDefaults([]byte(cm.Data["config.yaml"]))
	if err != nil {
		t.Fatalf("the webhook rejects the rendered config.yaml: %v\n%s", err, cm.Data["config.yaml"])
	}
	return d
}
