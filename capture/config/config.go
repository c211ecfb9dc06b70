// Package config is the capture sidecar's configuration schema. The webhook renders one Config
// per pod and the sidecar reads it back, so both binaries import this package. It must stay free
// of Kubernetes client code: the sidecar image links it.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Version is the schema version written by the webhook. The sidecar rejects any other version,
// so a webhook and sidecar that disagree fail loudly instead of capturing the wrong thing.
const Version = 1

// Protocol names, as they appear in annotations, configs and the events' `type` field.
const (
	MySQL = "mysql"
	PgSQL = "pgsql"
	Redis = "redis"
	HTTP  = "http"
	DNS   = "dns"
	// TLS reports the handshake of TLS connections (type: tls), recognised by content.
	TLS = "tls"

	// MongoDB is the MongoDB wire protocol.
	MongoDB = "mongodb"
)

// Service meshes whose proxy container the webhook recognises.
const (
	MeshIstio   = "istio"
	MeshLinkerd = "linkerd"
)

// Meshes lists the accepted values of Config.Mesh.
var Meshes = []string{MeshIstio, MeshLinkerd}

// MeshControlPorts are the ports on which a mesh proxy serves only itself over lo: its admin
// API, health, metrics and debug endpoints, polled by the kubelet, Prometheus and the proxy's
// own agent. Capturing them on lo would fill the audit with the mesh's housekeeping, so the
// sidecar neither decodes nor detects on them there. The ports that carry the application's
// traffic (Istio 15001, 15006 and the DNS proxy 15053; Linkerd 4140 and 4143) are not listed.
var MeshControlPorts = map[string][]uint16{
	// Envoy admin, pilot-agent debug, merged Prometheus, health, Envoy Prometheus.
	MeshIstio: {15000, 15004, 15020, 15021, 15090},
	// The proxy's admin and metrics endpoint, and its tap control port.
	MeshLinkerd: {4191, 4190},
}

// Protocols lists every supported protocol in a stable order.
var Protocols = []string{MySQL, PgSQL, Redis, HTTP, DNS, TLS, MongoDB}

// DefaultPorts are the well-known ports each protocol is captured on when nothing else is said.
var DefaultPorts = map[string][]uint16{
	MySQL: {3306},
	PgSQL: {5432},
	Redis: {6379},
	HTTP:  {80, 8080},
	DNS:   {53},
	TLS:   {}, // any port: recognised by its handshake

	MongoDB: {27017},
}

// DefaultTopic is the Kafka topic events go to unless the cluster defaults or the pod say
// otherwise.
const DefaultTopic = "wire-audit-events"

// DefaultHealthPort is where the sidecar serves /healthz, /readyz and /metrics inside the pod's
// network namespace. It sits in a range that applications rarely use.
const DefaultHealthPort = 15099

// Config is the whole configuration of one capture sidecar.
type Config struct {
	// Version must equal [Version].
	Version int `json:"version"`
	// Interfaces to capture on. Empty means every interface of the pod except lo.
	Interfaces []string `json:"interfaces,omitempty"`
	// Protocols to decode, each with its ports. A protocol with no ports is recognised by content.
	Protocols []Protocol `json:"protocols"`
	// Mesh names the service-mesh proxy the webhook found in the pod (istio, linkerd), or is
	// empty. With a mesh, the sidecar recognises every protocol by content on lo, where the
	// application talks plaintext to the proxy, and marks those events network.mesh.
	Mesh string `json:"mesh,omitempty"`
	// Flows turns per-connection flow records on or off.
	Flows bool `json:"flows"`
	// Privacy limits what statement text leaves the pod.
	Privacy Privacy `json:"privacy,omitzero"`
	// Kafka says where events go. Credentials are never here, only the paths and environment
	// variable names through which the pod's Secrets reach the sidecar.
	Kafka Kafka `json:"kafka"`
	// HealthPort is the TCP port of the sidecar's health and metrics server.
	HealthPort int `json:"healthPort"`
	// Kubernetes is the pod identity known at admission. Name, UID and node are unknown then
	// (Deployments use generateName), so the sidecar fills them from the downward API.
	Kubernetes Kubernetes `json:"kubernetes"`
}

// Privacy settings for statement text in events.
type Privacy struct {
	// MaxQueryLength cuts longer statements (the event says query_truncated). 0: no limit.
	MaxQueryLength int `json:"maxQueryLength,omitempty"`
	// MaskLiterals replaces literal values with `?` (WHERE id = ?).
	MaskLiterals bool `json:"maskLiterals,omitempty"`
	// HTTPHeaders names the HTTP headers copied into events. Empty: none. Authorization,
	// Proxy-Authorization, Cookie and Set-Cookie values are always redacted.
	HTTPHeaders []string `json:"httpHeaders,omitempty"`
	// HTTPBodyBytes is how many bytes of each HTTP body events carry; 0 (the default): none.
	HTTPBodyBytes int `json:"httpBodyBytes,omitempty"`
}

// Validate returns a FieldError for every bad setting, its field named under prefix (the
// sidecar's config calls it "privacy", the webhook's cluster defaults "capture.privacy").
func (p Privacy) Validate(prefix string) []error {
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, &FieldError{Field: prefix + "." + field, Value: value, Msg: fmt.Sprintf(format, args...)})
	}
	if p.MaxQueryLength < 0 {
		bad("maxQueryLength", p.MaxQueryLength, "must be 0 (no limit) or positive")
	}
	for i, h := range p.HTTPHeaders {
		if h == "" || strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) {
			bad(fmt.Sprintf("httpHeaders[%d]", i), h, "not an HTTP header name")
		}
	}
	if p.HTTPBodyBytes < 0 || p.HTTPBodyBytes > MaxHTTPBodyBytes {
		bad("httpBodyBytes", p.HTTPBodyBytes, "must be 0 (no bodies) to %d", MaxHTTPBodyBytes)
	}
	return errs
}

// MaxHTTPBodyBytes bounds Privacy.HTTPBodyBytes.
const MaxHTTPBodyBytes = 64 << 10

// Protocol is one protocol to decode and the ports it is expected on.
type Protocol struct {
	Name  string   `json:"name"`
	Ports []uint16 `json:"ports,omitempty"`
}

// Kafka is the exporter's destination.
type Kafka struct {
	Brokers []string   `json:"brokers"`
	Topic   string     `json:"topic"`
	TLS     *KafkaTLS  `json:"tls,omitempty"`
	SASL    *KafkaSASL `json:"sasl,omitempty"`
}

// KafkaTLS points at PEM files mounted from a Secret.
type KafkaTLS struct {
	CAFile   string `json:"caFile"`
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
	// InsecureSkipVerify turns server verification off. It is only ever set explicitly.
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// SASL mechanisms the exporter supports.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLMechanisms lists the accepted values of KafkaSASL.Mechanism.
var SASLMechanisms = []string{SASLPlain, SASLScramSHA256, SASLScramSHA512}

// KafkaSASL names the environment variables that carry the credentials; the webhook fills them
// with secretKeyRef so the values never appear in the pod spec or in this config.
type KafkaSASL struct {
	Mechanism   string `json:"mechanism"`
	UsernameEnv string `json:"usernameEnv"`
	PasswordEnv string `json:"passwordEnv"`
}

// Kubernetes is the pod identity attached to every event.
type Kubernetes struct {
	Namespace string            `json:"namespace"`
	PodName   string            `json:"podName,omitempty"`
	PodUID    string            `json:"podUID,omitempty"`
	NodeName  string            `json:"nodeName,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Default returns the configuration used when the sidecar runs with no config at all: every
// protocol on its standard ports.
func Default() Config {
	c := Config{Version: Version, Flows: true, HealthPort: DefaultHealthPort, Kafka: Kafka{Topic: DefaultTopic}}
	for _, p := range Protocols {
		c.Protocols = append(c.Protocols, Protocol{Name: p, Ports: slices.Clone(DefaultPorts[p])})
	}
	return c
}

// Parse decodes a JSON config strictly: unknown fields are errors, so a typo is never ignored.
func Parse(r io.Reader) (Config, error) {
	var c Config
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("decode capture config: %w", err)
	}
	if dec.More() {
		return Config{}, errors.New("decode capture config: trailing data after the JSON object")
	}
	return c, c.Validate()
}

// Load reads and validates a config file.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("open capture config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// FieldError is a problem with one field of a Config, named by its JSON path.
type FieldError struct {
	Field string
	Value any
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %q: invalid value %v: %s", e.Field, quoteValue(e.Value), e.Msg)
}

func quoteValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// Validate reports every problem at once, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, value any, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Value: value, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Version != Version {
		bad("version", c.Version, "this sidecar understands version %d", Version)
	}
	for i, name := range c.Interfaces {
		if err := ValidateInterfaceName(name); err != nil {
			bad(fmt.Sprintf("interfaces[%d]", i), name, "%v", err)
		}
	}
	if c.Mesh != "" && !slices.Contains(Meshes, c.Mesh) {
		bad("mesh", c.Mesh, "accepted: %s", strings.Join(Meshes, ", "))
	}
	if len(c.Protocols) == 0 {
		bad("protocols", "[]", "at least one protocol is required")
	}
	seen := map[string]bool{}
	owner := map[uint16]string{}
	for i, p := range c.Protocols {
		field := fmt.Sprintf("protocols[%d]", i)
		if !slices.Contains(Protocols, p.Name) {
			bad(field+".name", p.Name, "accepted: %s", strings.Join(Protocols, ", "))
		}
		if seen[p.Name] {
			bad(field+".name", p.Name, "protocol listed twice")
		}
		seen[p.Name] = true
		for j, port := range p.Ports {
			if port == 0 {
				bad(fmt.Sprintf("%s.ports[%d]", field, j), port, "ports are 1-65535")
			}
			if other, ok := owner[port]; ok && other != p.Name {
				bad(fmt.Sprintf("%s.ports[%d]", field, j), port, "port already used by protocol %s", other)
			}
			owner[port] = p.Name
		}
	}
	errs = append(errs, c.Privacy.Validate("privacy")...)
	if c.HealthPort < 1 || c.HealthPort > 65535 {
		bad("healthPort", c.HealthPort, "ports are 1-65535")
	}
	errs = append(errs, c.Kafka.validate("kafka")...)
	return errors.Join(errs...)
}

func (k *Kafka) validate(field string) []error {
	var errs []error
	bad := func(f string, value any, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field + "." + f, Value: value, Msg: fmt.Sprintf(format, args...)})
	}
	for i, b := range k.Brokers {
		if err := ValidateBroker(b); err != nil {
			bad(fmt.Sprintf("brokers[%d]", i), b, "%v", err)
		}
	}
	if err := ValidateTopic(k.Topic); err != nil {
		bad("topic", k.Topic, "%v", err)
	}
	if k.TLS != nil {
		if k.TLS.CAFile == "" && !k.TLS.InsecureSkipVerify {
			bad("tls.caFile", k.TLS.CAFile, "required unless insecureSkipVerify is set")
		}
		if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
			bad("tls.certFile", k.TLS.CertFile, "certFile and keyFile go together")
		}
	}
	if k.SASL != nil {
		if !slices.Contains(SASLMechanisms, k.SASL.Mechanism) {
			bad("sasl.mechanism", k.SASL.Mechanism, "accepted: %s", strings.Join(SASLMechanisms, ", "))
		}
		if k.SASL.UsernameEnv == "" {
			bad("sasl.usernameEnv", k.SASL.UsernameEnv, "required")
		}
		if k.SASL.PasswordEnv == "" {
			bad("sasl.passwordEnv", k.SASL.PasswordEnv, "required")
		}
	}
	return errs
}

// ValidateInterfaceName accepts what the Linux kernel accepts as a network interface name.
func ValidateInterfaceName(name string) error {
	switch {
	case name == "":
		return errors.New("empty interface name")
	case len(name) > 15:
		return errors.New("interface names are at most 15 bytes")
	case name == "." || name == "..":
		return errors.New("not an interface name")
	case strings.ContainsAny(name, "/: \t\n"):
		return errors.New("interface names contain no '/', ':' or whitespace")
	}
	return nil
}

// ValidateTopic accepts the Kafka topic names that brokers accept.
func ValidateTopic(topic string) error {
	switch {
	case topic == "":
		return errors.New("a topic is required")
	case len(topic) > 249:
		return errors.New("topic names are at most 249 characters")
	case topic == "." || topic == "..":
		return errors.New(`"." and ".." are not topic names`)
	}
	for _, r := range topic {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("character %q not allowed: topic names use [a-zA-Z0-9._-]", r)
		}
	}
	return nil
}

// ValidateBroker accepts host:port with a port in 1-65535 ([v6]:port for IPv6).
func ValidateBroker(b string) error {
	host, port, err := net.SplitHostPort(b)
	if err != nil || host == "" {
		return errors.New("brokers are host:port")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("broker port is a number in 1-65535")
	}
	return nil
}
