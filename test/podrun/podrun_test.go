package podrun

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"
)

const (
	image    = "ghcr.io/audit-io/wire-audit-capture:v0.1.0"
	standIn  = "/usr/local/bin/capture-stand-in"
	podUID   = types.UID("0b7c3c59-5d6e-4a44-9a57-1c1a8d3f0e21")
	nodeName = "node-a"
)

// golden reads the pod of a webhook golden file, as the webhook stored it, and gives it the UID
// the API server would.
func golden(t *testing.T, name string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "webhook", "testdata", name+".injected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Pod corev1.Pod `json:"pod"`
	}
	// The golden files hold more than the pod (outcome, renderedConfig); only the pod matters.
	if err := yaml.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	g.Pod.UID = podUID
	return &g.Pod
}

func opts(t *testing.T) Options {
	return Options{Binaries: map[string]string{image: standIn}, Dir: t.TempDir(), NodeName: nodeName}
}

// wantSetpriv is what the rendered securityContext implies: uid 0, gid 0, no groups, only
// NET_ADMIN and NET_RAW in the bounding set, nothing inheritable or ambient, no_new_privs.
var wantSetpriv = []string{"--reuid=0", "--regid=0", "--clear-groups", "--inh-caps=-all", "--ambient-caps=-all",
	"--bounding-set=-all,+net_admin,+net_raw", "--no-new-privs", "--"}

func TestResolveGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		native bool
		labels string
	}{
		{name: "plain", native: true, labels: `app="api"`},
		{name: "container-mode", native: false},
		{name: "mesh-linkerd", native: true},
		{name: "generate-name", native: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := golden(t, tc.name)
			o := opts(t)
			s, err := Resolve(pod, o)
			if err != nil {
				t.Fatal(err)
			}
			if s.Native != tc.native || s.Container.Name != "audit-capture" {
				t.Errorf("container %q native %v, want audit-capture native %v", s.Container.Name, s.Native, tc.native)
			}
			cfgDir := filepath.Join(o.Dir, "audit-capture-config")
			wantArgv := []string{standIn, "--config=" + filepath.Join(cfgDir, "config.json"), "--labels-file=" + filepath.Join(cfgDir, "labels")}
			if !slices.Equal(s.Argv, wantArgv) {
				t.Errorf("argv %q, want %q", s.Argv, wantArgv)
			}
			wantEnv := []string{"POD_NAME=" + pod.Name, "POD_NAMESPACE=" + pod.Namespace, "POD_UID=" + string(podUID), "NODE_NAME=" + nodeName}
			if !slices.Equal(s.Env, wantEnv) {
				t.Errorf("env %q, want %q", s.Env, wantEnv)
			}
			if !slices.Equal(s.Setpriv, wantSetpriv) || !s.ReadOnlyRoot {
				t.Errorf("setpriv %q read-only root %v, want %q and true", s.Setpriv, s.ReadOnlyRoot, wantSetpriv)
			}
			if s.ConfigFile != wantArgv[1][len("--config="):] || s.LabelsFile != wantArgv[2][len("--labels-file="):] {
				t.Errorf("config file %q labels file %q", s.ConfigFile, s.LabelsFile)
			}
			cfg, err := os.ReadFile(s.ConfigFile)
			if err != nil || string(cfg) != pod.Annotations["audit.io/rendered-config"] {
				t.Errorf("config.json %q (%v), want the annotation byte for byte", cfg, err)
			}
			labels, err := os.ReadFile(s.LabelsFile)
			if err != nil || string(labels) != formatMap(pod.Labels) {
				t.Errorf("labels %q (%v)", labels, err)
			}
			if tc.labels != "" && string(labels) != tc.labels {
				t.Errorf("labels %q, want %q", labels, tc.labels)
			}
			if st, err := os.Stat(s.Mounts["/var/run/secrets/kubernetes.io/serviceaccount"]); err != nil || !st.IsDir() {
				t.Errorf("no-token emptyDir: %v", err)
			}
			if s.Probe != "http://127.0.0.1:15099/readyz" || s.ProbeTimeout != 120 {
				t.Errorf("probe %q within %d s", s.Probe, s.ProbeTimeout)
			}
			if len(s.NotApplied) == 0 || !strings.Contains(strings.Join(s.NotApplied, "\n"), "seccompProfile") {
				t.Errorf("not applied %q: the seccomp profile is not installed and must be listed", s.NotApplied)
			}
		})
	}
}

// TestResolveKafkaSecrets: credentials come only from Options.Secrets, and a config that names
// the TLS files under a mount is refused, since the process would look for them at the mountPath.
func TestResolveKafkaSecrets(t *testing.T) {
	pod := golden(t, "kafka-secrets")
	o := opts(t)
	o.Binaries = map[string]string{"registry.example/audit/capture:v0.1.0": standIn}
	_, err := Resolve(pod, o)
	wantField(t, err, "spec.initContainers[0].env[4].valueFrom.secretKeyRef", `"kafka-audit-user"`)

	o.Dir = t.TempDir()
	o.Secrets = map[string]map[string][]byte{
		"kafka-audit-user": {"username": []byte("auditor"), "password": []byte("s3cret")},
		"kafka-client-tls": {"ca.crt": []byte("CA"), "tls.crt": []byte("CRT"), "tls.key": []byte("KEY")},
	}
	_, err = Resolve(pod, o)
	wantField(t, err, "spec.initContainers[0].args", "/etc/audit-capture/kafka-tls")
	if b, err := os.ReadFile(filepath.Join(o.Dir, "audit-capture-kafka-tls", "ca.crt")); err != nil || string(b) != "CA" {
		t.Errorf("secret volume file ca.crt: %q, %v", b, err)
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct {
		name, field, msg string
		edit             func(*corev1.Pod, *Options)
	}{
		{"missing status", "metadata.annotations['audit.io/status']", "missing", func(p *corev1.Pod, _ *Options) {
			delete(p.Annotations, "audit.io/status")
		}},
		{"status not JSON", "metadata.annotations['audit.io/status']", "invalid value", func(p *corev1.Pod, _ *Options) {
			p.Annotations["audit.io/status"] = "{"
		}},
		{"status names no container", "metadata.annotations['audit.io/status']", `"gone"`, func(p *corev1.Pod, _ *Options) {
			p.Annotations["audit.io/status"] = `{"version":1,"container":"gone"}`
		}},
		{"privileged", "spec.initContainers[0].securityContext.privileged", "privileged", func(p *corev1.Pod, _ *Options) {
			p.Spec.InitContainers[0].SecurityContext.Privileged = new(true)
		}},
		{"unknown fieldRef", "spec.initContainers[0].env[1].valueFrom.fieldRef.fieldPath", `"metadata.generation"`, func(p *corev1.Pod, _ *Options) {
			p.Spec.InitContainers[0].Env[1].ValueFrom.FieldRef.FieldPath = "metadata.generation"
		}},
		{"no node", "spec.initContainers[0].env[3].valueFrom.fieldRef.fieldPath", "NodeName", func(_ *corev1.Pod, o *Options) {
			o.NodeName = ""
		}},
		{"unknown image", "spec.initContainers[0].image", image, func(_ *corev1.Pod, o *Options) {
			o.Binaries = nil
		}},
		{"unknown capability", "spec.initContainers[0].securityContext.capabilities.add[1]", "NET_RAWW", func(p *corev1.Pod, _ *Options) {
			p.Spec.InitContainers[0].SecurityContext.Capabilities.Add[1] = "NET_RAWW"
		}},
		{"no uid", "spec.initContainers[0].securityContext.runAsUser", "USER", func(p *corev1.Pod, _ *Options) {
			p.Spec.InitContainers[0].SecurityContext.RunAsUser = nil
		}},
		{"root with runAsNonRoot", "spec.initContainers[0].securityContext.runAsUser", "runAsNonRoot", func(p *corev1.Pod, _ *Options) {
			p.Spec.InitContainers[0].SecurityContext.RunAsNonRoot = new(true)
		}},
		{"command not the entrypoint", "spec.initContainers[0].command[0]", "/bin/sh", func(p *corev1.Pod, _ *Options) {
			p.Spec.InitContainers[0].Command = []string{"/bin/sh", "-c", "true"}
		}},
		{"hostPath volume", "spec.volumes[0]", "emptyDir, downwardAPI and secret", func(p *corev1.Pod, _ *Options) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}
		}},
		{"exec probe", "spec.initContainers[0].startupProbe", "httpGet", func(p *corev1.Pod, _ *Options) {
			p.Spec.InitContainers[0].StartupProbe.HTTPGet = nil
			p.Spec.InitContainers[0].StartupProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := golden(t, "plain")
			o := opts(t)
			tc.edit(pod, &o)
			_, err := Resolve(pod, o)
			wantField(t, err, tc.field, tc.msg)
		})
	}
}

func wantField(t *testing.T, err error, field, msg string) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v, want a FieldError naming %s", err, field)
	}
	if fe.Field != field || !strings.Contains(fe.Error(), msg) {
		t.Fatalf("error %q, want field %q and %q in the message", fe.Error(), field, msg)
	}
}

func TestCommandAndExpansion(t *testing.T) {
	pod := golden(t, "plain")
	c := &pod.Spec.InitContainers[0]
	c.Command = []string{"/capture", "--stats-interval=$(INTERVAL)"}
	c.Args = append(c.Args, "--output=$$(literal)", "/etc/audit-capture/labels", "--interfaces=$(MISSING)")
	c.Env = append(c.Env, corev1.EnvVar{Name: "INTERVAL", Value: "$(POD_NAME)-5s"})
	o := opts(t)
	s, err := Resolve(pod, o)
	if err != nil {
		t.Fatal(err)
	}
	cfgDir := filepath.Join(o.Dir, "audit-capture-config")
	want := []string{standIn, "--stats-interval=api-5s", "--config=" + filepath.Join(cfgDir, "config.json"),
		"--labels-file=" + filepath.Join(cfgDir, "labels"), "--output=$(literal)", filepath.Join(cfgDir, "labels"), "--interfaces=$(MISSING)"}
	if !slices.Equal(s.Argv, want) {
		t.Errorf("argv\n%q\nwant\n%q", s.Argv, want)
	}
}

func TestFormatMap(t *testing.T) {
	got := formatMap(map[string]string{"b": `say "hi"`, "a": "x\ny", "job-name": "migrate"})
	want := "a=\"x\\ny\"\nb=\"say \\\"hi\\\"\"\njob-name=\"migrate\""
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if formatMap(nil) != "" {
		t.Error("empty map must give an empty file")
	}
}

func TestCapabilitySet(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps *corev1.Capabilities
		want []string
	}{
		{"runtime default", nil, runtimeDefaultCaps},
		{"drop one", &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}},
			slices.DeleteFunc(slices.Clone(runtimeDefaultCaps), func(c string) bool { return c == "NET_RAW" })},
		{"drop all add two", &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"CAP_NET_RAW", "net_admin"}},
			[]string{"NET_ADMIN", "NET_RAW"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := capabilitySet(tc.caps, "caps")
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("got %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}
