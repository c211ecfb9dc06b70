package webhook

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/audit-io/wire-audit/capture/config"
)

// Mode is how the sidecar is placed in the pod.
type Mode string

const (
	// ModeAuto picks ModeNative when the API server is 1.29 or newer, else ModeContainer.
	ModeAuto Mode = "auto"
	// ModeNative injects an init container with restartPolicy Always (a native sidecar): it
	// starts before the app and does not keep a Job from completing.
	ModeNative Mode = "native"
	// ModeContainer injects a regular container, for clusters without native sidecars.
	ModeContainer Mode = "container"
)

// Defaults are the cluster-wide settings, from the chart values or the --config file. They are
// merged with each pod's annotations in Go and never written back into pod annotations.
type Defaults struct {
	Sidecar SidecarDefaults `json:"sidecar"`
	Capture CaptureDefaults `json:"capture"`
	Kafka   KafkaDefaults   `json:"kafka"`
}

// SidecarDefaults shape the injected container.
type SidecarDefaults struct {
	Image           string                      `json:"image"`
	ImagePullPolicy corev1.PullPolicy           `json:"imagePullPolicy,omitempty"`
	Mode            Mode                        `json:"mode,omitempty"`
	HealthPort      int                         `json:"healthPort,omitempty"`
	Resources       corev1.ResourceRequirements `json:"resources,omitempty"`
}

// CaptureDefaults are what is captured when a pod does not say.
type CaptureDefaults struct {
	// Protocols maps each enabled protocol to its ports. An empty list means "recognise by
	// content". Nil means every protocol on its standard ports.
	Protocols  map[string][]uint16 `json:"protocols,omitempty"`
	Interfaces []string            `json:"interfaces,omitempty"`
	Flows      *bool               `json:"flows,omitempty"`
	// Privacy limits the statement text in events: maxQueryLength (0: no limit) and
	// maskLiterals. It is cluster-wide on purpose: a pod annotation cannot loosen it.
	Privacy config.Privacy `json:"privacy,omitzero"`
}

// KafkaDefaults say where events go. Secrets are named, never inlined; each must exist in the
// namespace of every audited pod.
type KafkaDefaults struct {
	Brokers []string     `json:"brokers"`
	Topic   string       `json:"topic"`
	TLS     KafkaTLSRef  `json:"tls,omitempty"`
	SASL    KafkaSASLRef `json:"sasl,omitempty"`
}

// KafkaTLSRef names a Secret with ca.crt, and tls.crt and tls.key when ClientCertificate is set.
type KafkaTLSRef struct {
	SecretName         string `json:"secretName,omitempty"`
	ClientCertificate  bool   `json:"clientCertificate,omitempty"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify,omitempty"`
}

// KafkaSASLRef names a Secret with the keys username and password.
type KafkaSASLRef struct {
	Mechanism  string `json:"mechanism,omitempty"`
	SecretName string `json:"secretName,omitempty"`
}

// DefaultImage is the sidecar image used when the defaults name none.
const DefaultImage = "ghcr.io/audit-io/wire-audit-capture:v0.1.0"

// DefaultDefaults are the built-in defaults, used field by field where the config file is silent.
func DefaultDefaults() Defaults {
	flows := true
	return Defaults{
		Sidecar: SidecarDefaults{
			Image:           DefaultImage,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Mode:            ModeAuto,
			HealthPort:      config.DefaultHealthPort,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse("50m"),
					corev1.ResourceMemory: resource.MustParse("64Mi"),
				},
				Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
		},
		Capture: CaptureDefaults{Protocols: config.DefaultPorts, Flows: &flows},
		Kafka:   KafkaDefaults{Brokers: []string{"kafka.kafka.svc:9092"}, Topic: config.DefaultTopic},
	}
}

// LoadDefaults reads a YAML defaults file over DefaultDefaults. Unknown fields are errors.
func LoadDefaults(path string) (Defaults, error) {
	if path == "" {
		return DefaultDefaults(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Defaults{}, fmt.Errorf("read defaults: %w", err)
	}
	d, err := ParseDefaults(data)
	if err != nil {
		return Defaults{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// ParseDefaults decodes YAML and validates the result. Each field the file leaves out takes its
// built-in value; a map or list the file gives (protocols, resources) replaces the built-in one
// whole, so an operator can remove a default limit or protocol rather than only add to it.
func ParseDefaults(data []byte) (Defaults, error) {
	var d Defaults
	jsonData, err := yaml.YAMLToJSON(data)
	if err != nil {
		return Defaults{}, fmt.Errorf("parse defaults: %w", err)
	}
	// sigs.k8s.io/json names unknown fields by their full path (sidecar.imag), which the yaml
	// package's strict mode does not.
	strict, err := kjson.UnmarshalStrict(jsonData, &d)
	if err != nil {
		return Defaults{}, fmt.Errorf("parse defaults: %w", err)
	}
	if len(strict) > 0 {
		return Defaults{}, fmt.Errorf("parse defaults: %w", errors.Join(strict...))
	}
	builtin := DefaultDefaults()
	fill(&d.Sidecar.Image, builtin.Sidecar.Image)
	fill(&d.Sidecar.ImagePullPolicy, builtin.Sidecar.ImagePullPolicy)
	fill(&d.Sidecar.Mode, builtin.Sidecar.Mode)
	fill(&d.Sidecar.HealthPort, builtin.Sidecar.HealthPort)
	if d.Sidecar.Resources.Requests == nil && d.Sidecar.Resources.Limits == nil {
		d.Sidecar.Resources = builtin.Sidecar.Resources
	}
	if d.Capture.Protocols == nil {
		d.Capture.Protocols = builtin.Capture.Protocols
	}
	if d.Capture.Flows == nil {
		d.Capture.Flows = builtin.Capture.Flows
	}
	if d.Kafka.Brokers == nil {
		d.Kafka.Brokers = builtin.Kafka.Brokers
	}
	fill(&d.Kafka.Topic, builtin.Kafka.Topic)
	if err := d.Validate(); err != nil {
		return Defaults{}, fmt.Errorf("invalid defaults: %w", err)
	}
	return d, nil
}

func fill[T comparable](field *T, builtin T) {
	var zero T
	if *field == zero {
		*field = builtin
	}
}

// Validate reports every problem at once, each naming its field in the defaults file.
func (d *Defaults) Validate() error {
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, &config.FieldError{Field: field, Value: value, Msg: fmt.Sprintf(format, args...)})
	}
	if d.Sidecar.Image == "" {
		bad("sidecar.image", "", "an image is required")
	}
	switch d.Sidecar.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		bad("sidecar.imagePullPolicy", string(d.Sidecar.ImagePullPolicy), "accepted: Always, IfNotPresent, Never")
	}
	switch d.Sidecar.Mode {
	case ModeAuto, ModeNative, ModeContainer:
	default:
		bad("sidecar.mode", string(d.Sidecar.Mode), "accepted: auto, native, container")
	}
	if d.Sidecar.HealthPort < 1 || d.Sidecar.HealthPort > 65535 {
		bad("sidecar.healthPort", d.Sidecar.HealthPort, "ports are 1-65535")
	}
	for _, name := range requestsOverLimits(&d.Sidecar.Resources) {
		bad("sidecar.resources.requests."+string(name), d.Sidecar.Resources.Requests.Name(name, resource.DecimalSI).String(),
			"exceeds the limit %s", d.Sidecar.Resources.Limits.Name(name, resource.DecimalSI).String())
	}
	if len(d.Capture.Protocols) == 0 {
		bad("capture.protocols", "{}", "at least one protocol is required")
	}
	for _, p := range sortedKeys(d.Capture.Protocols) {
		if !slices.Contains(config.Protocols, p) {
			bad("capture.protocols."+p, p, "unknown protocol; accepted: %s", strings.Join(config.Protocols, ", "))
		}
		if slices.Contains(d.Capture.Protocols[p], 0) {
			bad("capture.protocols."+p, 0, "ports are 1-65535")
		}
	}
	for i, name := range d.Capture.Interfaces {
		if err := config.ValidateInterfaceName(name); err != nil {
			bad(fmt.Sprintf("capture.interfaces[%d]", i), name, "%v", err)
		}
	}
	errs = append(errs, d.Capture.Privacy.Validate("capture.privacy")...)
	if len(d.Kafka.Brokers) == 0 {
		bad("kafka.brokers", "[]", "at least one broker is required")
	}
	for i, b := range d.Kafka.Brokers {
		if err := config.ValidateBroker(b); err != nil {
			bad(fmt.Sprintf("kafka.brokers[%d]", i), b, "%v", err)
		}
	}
	if err := config.ValidateTopic(d.Kafka.Topic); err != nil {
		bad("kafka.topic", d.Kafka.Topic, "%v", err)
	}
	if d.Kafka.TLS.SecretName == "" && (d.Kafka.TLS.ClientCertificate || d.Kafka.TLS.InsecureSkipVerify) {
		bad("kafka.tls.secretName", "", "required when kafka.tls.clientCertificate or insecureSkipVerify is set")
	}
	if d.Kafka.SASL != (KafkaSASLRef{}) {
		if !slices.Contains(config.SASLMechanisms, d.Kafka.SASL.Mechanism) {
			bad("kafka.sasl.mechanism", d.Kafka.SASL.Mechanism, "accepted: %s", strings.Join(config.SASLMechanisms, ", "))
		}
		if d.Kafka.SASL.SecretName == "" {
			bad("kafka.sasl.secretName", "", "required when kafka.sasl.mechanism is set")
		}
	}
	return errors.Join(errs...)
}

// ResolveMode turns ModeAuto into a concrete mode for an API server version, as reported by
// /version (major "1", minor "29" or "29+"). Native sidecars are on by default from 1.29.
func ResolveMode(m Mode, major, minor string) (Mode, error) {
	if m != ModeAuto {
		return m, nil
	}
	maj, err := strconv.Atoi(major)
	if err != nil {
		return "", fmt.Errorf("parse server major version %q: %w", major, err)
	}
	mnr, err := strconv.Atoi(strings.TrimRight(minor, "+"))
	if err != nil {
		return "", fmt.Errorf("parse server minor version %q: %w", minor, err)
	}
	if maj > 1 || (maj == 1 && mnr >= 29) {
		return ModeNative, nil
	}
	return ModeContainer, nil
}

// requestsOverLimits names the resources whose request exceeds their limit.
func requestsOverLimits(r *corev1.ResourceRequirements) []corev1.ResourceName {
	var over []corev1.ResourceName
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		lim, hasLim := r.Limits[name]
		if hasReq && hasLim && req.Cmp(lim) > 0 {
			over = append(over, name)
		}
	}
	return over
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
