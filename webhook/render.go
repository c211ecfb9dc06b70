package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/audit-io/wire-audit/capture/config"
)

// Base names of what the webhook adds to a pod. When a pod already uses a name, a numeric
// suffix is added (audit-capture-2, ...), and the status annotation records the names chosen.
const (
	SidecarName        = "audit-capture"
	ConfigVolumeName   = "audit-capture-config"
	NoTokenVolumeName  = "audit-capture-no-token"
	KafkaTLSVolumeName = "audit-capture-kafka-tls"
)

// Paths inside the sidecar.
const (
	ConfigDir       = "/etc/audit-capture"
	ConfigFile      = ConfigDir + "/config.json"
	LabelsFile      = ConfigDir + "/labels"
	KafkaTLSDir     = ConfigDir + "/kafka-tls"
	tokenMountPath  = "/var/run/secrets/kubernetes.io/serviceaccount"
	saslUsernameEnv = "KAFKA_SASL_USERNAME"
	saslPasswordEnv = "KAFKA_SASL_PASSWORD"
)

// Status is the JSON value of AnnotationStatus.
type Status struct {
	Version    int      `json:"version"`
	Mode       Mode     `json:"mode"`
	Container  string   `json:"container"`
	Volumes    []string `json:"volumes"`
	ConfigHash string   `json:"configHash"`
}

// names are the container and volume names chosen for one pod.
type names struct {
	container, config, noToken, kafkaTLS string
}

// RenderConfig merges defaults, overrides and what is known of the pod at admission into the
// sidecar's config. It is pure.
func RenderConfig(d *Defaults, o *Overrides, namespace string, labels map[string]string) config.Config {
	c := config.Config{
		Version:    config.Version,
		Interfaces: slices.Clone(d.Capture.Interfaces),
		Flows:      d.Capture.Flows == nil || *d.Capture.Flows,
		Privacy:    d.Capture.Privacy,
		HealthPort: d.Sidecar.HealthPort,
		Kafka: config.Kafka{
			Brokers: slices.Clone(d.Kafka.Brokers),
			Topic:   d.Kafka.Topic,
		},
		Kubernetes: config.Kubernetes{Namespace: namespace, Labels: labels},
	}
	enabled := o.Protocols
	if enabled == nil {
		for _, p := range config.Protocols {
			if _, ok := d.Capture.Protocols[p]; ok {
				enabled = append(enabled, p)
			}
		}
	}
	for _, p := range enabled {
		ports, ok := o.Ports[p]
		if !ok {
			ports, ok = d.Capture.Protocols[p]
			if !ok {
				// Enabled by the pod but absent from the cluster defaults: standard ports.
				ports = config.DefaultPorts[p]
			}
		}
		c.Protocols = append(c.Protocols, config.Protocol{Name: p, Ports: slices.Clone(ports)})
	}
	if o.Interfaces != nil {
		c.Interfaces = slices.Clone(o.Interfaces)
	}
	if o.Flows != nil {
		c.Flows = *o.Flows
	}
	if o.Topic != "" {
		c.Kafka.Topic = o.Topic
	}
	if d.Kafka.TLS.SecretName != "" {
		c.Kafka.TLS = &config.KafkaTLS{CAFile: KafkaTLSDir + "/ca.crt", InsecureSkipVerify: d.Kafka.TLS.InsecureSkipVerify}
		if d.Kafka.TLS.ClientCertificate {
			c.Kafka.TLS.CertFile = KafkaTLSDir + "/tls.crt"
			c.Kafka.TLS.KeyFile = KafkaTLSDir + "/tls.key"
		}
	}
	if d.Kafka.SASL.Mechanism != "" {
		c.Kafka.SASL = &config.KafkaSASL{Mechanism: d.Kafka.SASL.Mechanism, UsernameEnv: saslUsernameEnv, PasswordEnv: saslPasswordEnv}
	}
	return c
}

// resources merges the per-pod resource overrides into the defaults.
func resources(d *Defaults, o *Overrides) corev1.ResourceRequirements {
	r := *d.Sidecar.Resources.DeepCopy()
	set := func(list *corev1.ResourceList, name corev1.ResourceName, q *resource.Quantity) {
		if q == nil {
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = *q
	}
	set(&r.Requests, corev1.ResourceCPU, o.CPURequest)
	set(&r.Requests, corev1.ResourceMemory, o.MemoryRequest)
	set(&r.Limits, corev1.ResourceCPU, o.CPULimit)
	set(&r.Limits, corev1.ResourceMemory, o.MemoryLimit)
	return r
}

// SecurityContext is the sidecar's security context. The trade-off, documented in the README:
// Kubernetes has no ambient capabilities, and file capabilities are ignored under no_new_privs,
// so a non-root process cannot hold NET_RAW without allowPrivilegeEscalation. The sidecar
// therefore runs as uid 0 with every capability dropped but NET_RAW (AF_PACKET) and NET_ADMIN
// (interface flags), no privilege escalation, a read-only root and the runtime's seccomp
// profile: root in name only, as istio-init is. RunAsNonRoot is set false explicitly so that a
// pod-level runAsNonRoot or runAsUser does not stop the sidecar from starting.
func SecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		Privileged:               ptr.To(false),
		AllowPrivilegeEscalation: ptr.To(false),
		RunAsUser:                ptr.To[int64](0),
		RunAsNonRoot:             ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities: &corev1.Capabilities{
			Drop: []corev1.Capability{"ALL"},
			Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW"},
		},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// buildSidecar builds the capture container. It is pure: no I/O, no logger.
func buildSidecar(d *Defaults, o *Overrides, n names, mode Mode) corev1.Container {
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	c := corev1.Container{
		Name:            n.container,
		Image:           d.Sidecar.Image,
		ImagePullPolicy: d.Sidecar.ImagePullPolicy,
		Args:            []string{"--config=" + ConfigFile, "--labels-file=" + LabelsFile},
		Env: []corev1.EnvVar{
			fieldEnv("POD_NAME", "metadata.name"),
			fieldEnv("POD_NAMESPACE", "metadata.namespace"),
			fieldEnv("POD_UID", "metadata.uid"),
			fieldEnv("NODE_NAME", "spec.nodeName"),
		},
		Ports: []corev1.ContainerPort{{Name: "audit-metrics", ContainerPort: int32(d.Sidecar.HealthPort), Protocol: corev1.ProtocolTCP}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: n.config, MountPath: ConfigDir, ReadOnly: true},
			// An empty directory over the token path: the ServiceAccount admission plugin skips a
			// container that already mounts something there, so no API token reaches the sidecar.
			{Name: n.noToken, MountPath: tokenMountPath, ReadOnly: true},
		},
		Resources: resources(d, o),
		StartupProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/readyz", Port: intstr.FromInt(d.Sidecar.HealthPort),
			}},
			PeriodSeconds:    1,
			TimeoutSeconds:   1,
			FailureThreshold: 120,
		},
		SecurityContext:          SecurityContext(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if mode == ModeNative {
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	}
	if d.Kafka.SASL.Mechanism != "" {
		secretEnv := func(name, key string) corev1.EnvVar {
			return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: d.Kafka.SASL.SecretName}, Key: key,
			}}}
		}
		c.Env = append(c.Env, secretEnv(saslUsernameEnv, "username"), secretEnv(saslPasswordEnv, "password"))
	}
	if d.Kafka.TLS.SecretName != "" {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: n.kafkaTLS, MountPath: KafkaTLSDir, ReadOnly: true})
	}
	return c
}

// volumes builds the volumes the sidecar mounts.
func volumes(d *Defaults, n names) []corev1.Volume {
	fieldFile := func(file, path string) corev1.DownwardAPIVolumeFile {
		return corev1.DownwardAPIVolumeFile{Path: file, FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
	}
	vs := []corev1.Volume{
		{Name: n.config, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{
				fieldFile("config.json", "metadata.annotations['"+AnnotationRenderedConfig+"']"),
				fieldFile("labels", "metadata.labels"),
			},
		}}},
		{Name: n.noToken, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Ki")),
		}}},
	}
	if d.Kafka.TLS.SecretName != "" {
		vs = append(vs, corev1.Volume{Name: n.kafkaTLS, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: d.Kafka.TLS.SecretName,
		}}})
	}
	return vs
}

// chooseNames picks names that do not collide with the pod's own containers and volumes.
func chooseNames(pod *corev1.Pod) names {
	var containers, vols []string
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			containers = append(containers, list[i].Name)
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		containers = append(containers, pod.Spec.EphemeralContainers[i].Name)
	}
	for i := range pod.Spec.Volumes {
		vols = append(vols, pod.Spec.Volumes[i].Name)
	}
	free := func(base string, taken []string) string {
		name := base
		for i := 2; slices.Contains(taken, name); i++ {
			name = base + "-" + strconv.Itoa(i)
		}
		return name
	}
	return names{
		container: free(SidecarName, containers),
		config:    free(ConfigVolumeName, vols),
		noToken:   free(NoTokenVolumeName, vols),
		kafkaTLS:  free(KafkaTLSVolumeName, vols),
	}
}

// inject adds the sidecar, its volumes and the two webhook-owned annotations to pod. It is pure.
func inject(pod *corev1.Pod, d *Defaults, o *Overrides, cfg *config.Config, mode Mode) error {
	rendered, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("marshal capture config: %w", err)
	}
	sum := sha256.Sum256(rendered)
	n := chooseNames(pod)
	sidecar := buildSidecar(d, o, n, mode)
	vols := volumes(d, n)
	if mode == ModeNative {
		// First, so that capture runs before any other init container and the app.
		pod.Spec.InitContainers = append([]corev1.Container{sidecar}, pod.Spec.InitContainers...)
	} else {
		pod.Spec.Containers = append(pod.Spec.Containers, sidecar)
	}
	pod.Spec.Volumes = append(pod.Spec.Volumes, vols...)
	status := Status{Version: 1, Mode: mode, Container: n.container, ConfigHash: "sha256:" + hex.EncodeToString(sum[:])}
	for _, v := range vols {
		status.Volumes = append(status.Volumes, v.Name)
	}
	statusJSON, err := json.Marshal(status)
	if err != nil {
		return fmt.Errorf("marshal status: %w", err)
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationRenderedConfig] = string(rendered)
	pod.Annotations[AnnotationStatus] = string(statusJSON)
	return nil
}
