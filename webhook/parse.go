package webhook

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/audit-io/wire-audit/capture/config"
)

// Overrides are the per-pod settings parsed from annotations. A nil or unset field means the
// pod did not say, and the cluster default applies.
type Overrides struct {
	// Capture is the value of AnnotationCapture.
	Capture bool
	// Protocols is the enabled set, in the order given, or nil.
	Protocols []string
	// Ports maps a protocol to its ports, or is nil.
	Ports map[string][]uint16
	// Interfaces is the list to capture on, or nil.
	Interfaces []string
	// Flows is the flow-record switch, or nil.
	Flows *bool
	// Topic is the Kafka topic, or "".
	Topic string

	CPURequest, CPULimit, MemoryRequest, MemoryLimit *resource.Quantity
}

// AnnotationError is one annotation that cannot be accepted.
type AnnotationError struct {
	Key   string
	Value string
	Msg   string
}

func (e *AnnotationError) Error() string {
	return fmt.Sprintf("annotation %q: invalid value %q: %s", e.Key, e.Value, e.Msg)
}

type annotationParser struct {
	key   string
	parse func(value string, o *Overrides) error
}

// annotationParsers maps each input key to its parser. Parsers see only their own value; rules
// that span keys are checked afterwards in ParseAnnotations.
var annotationParsers = []annotationParser{
	{AnnotationCapture, func(v string, o *Overrides) error {
		b, err := parseBool(v)
		o.Capture = b
		return err
	}},
	{AnnotationProtocols, parseProtocols},
	{AnnotationPorts, parsePorts},
	{AnnotationInterfaces, parseInterfaces},
	{AnnotationFlows, func(v string, o *Overrides) error {
		b, err := parseBool(v)
		o.Flows = &b
		return err
	}},
	{AnnotationKafkaTopic, func(v string, o *Overrides) error {
		o.Topic = v
		return config.ValidateTopic(v)
	}},
	{AnnotationCPURequest, quantityParser(func(o *Overrides) **resource.Quantity { return &o.CPURequest })},
	{AnnotationCPULimit, quantityParser(func(o *Overrides) **resource.Quantity { return &o.CPULimit })},
	{AnnotationMemoryRequest, quantityParser(func(o *Overrides) **resource.Quantity { return &o.MemoryRequest })},
	{AnnotationMemoryLimit, quantityParser(func(o *Overrides) **resource.Quantity { return &o.MemoryLimit })},
}

// outputAnnotations are written by the webhook itself and are not input.
var outputAnnotations = []string{AnnotationStatus, AnnotationRenderedConfig}

// KnownAnnotations returns the input keys in table order.
func KnownAnnotations() []string {
	keys := make([]string, 0, len(annotationParsers))
	for _, p := range annotationParsers {
		keys = append(keys, p.key)
	}
	return keys
}

// ParseAnnotations parses every audit.io annotation into Overrides and returns all the problems
// together, each an *AnnotationError naming its key.
func ParseAnnotations(annotations map[string]string) (Overrides, error) {
	var o Overrides
	var errs []error
	for _, p := range annotationParsers {
		v, ok := annotations[p.key]
		if !ok {
			continue
		}
		if err := p.parse(v, &o); err != nil {
			errs = append(errs, &AnnotationError{Key: p.key, Value: v, Msg: err.Error()})
		}
	}
	var unknown []string
	for k := range annotations {
		if strings.HasPrefix(k, AnnotationPrefix) && !slices.Contains(outputAnnotations, k) &&
			!slices.ContainsFunc(annotationParsers, func(p annotationParser) bool { return p.key == k }) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		errs = append(errs, &AnnotationError{Key: k, Value: annotations[k],
			Msg: "unknown key; known keys: " + strings.Join(KnownAnnotations(), ", ")})
	}
	return o, errors.Join(errs...)
}

func parseBool(v string) (bool, error) {
	switch v {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New(`accepted values are "true" and "false"`)
}

func splitList(v string) []string {
	parts := strings.Split(v, ",")
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func acceptedProtocols() string {
	return "accepted protocols: " + strings.Join(config.Protocols, ", ")
}

func parseProtocols(v string, o *Overrides) error {
	items := splitList(v)
	if len(items) == 0 {
		return errors.New("at least one protocol is required; " + acceptedProtocols())
	}
	o.Protocols = o.Protocols[:0]
	for _, p := range items {
		if !slices.Contains(config.Protocols, p) {
			return fmt.Errorf("unknown protocol %q; %s", p, acceptedProtocols())
		}
		if slices.Contains(o.Protocols, p) {
			return fmt.Errorf("protocol %q listed twice", p)
		}
		o.Protocols = append(o.Protocols, p)
	}
	return nil
}

func parsePorts(v string, o *Overrides) error {
	const format = "expected a comma-separated list of <protocol>:<port> or <protocol>:auto, for example mysql:3306,http:8080,redis:auto"
	items := splitList(v)
	if len(items) == 0 {
		return errors.New(format)
	}
	o.Ports = map[string][]uint16{}
	for _, item := range items {
		proto, portText, ok := strings.Cut(item, ":")
		if !ok {
			return fmt.Errorf("%q has no port; %s", item, format)
		}
		if !slices.Contains(config.Protocols, proto) {
			return fmt.Errorf("unknown protocol %q in %q; %s", proto, item, acceptedProtocols())
		}
		if portText == PortsAuto {
			if o.Ports[proto] != nil {
				return fmt.Errorf("%q: a protocol is either %s or on ports", item, PortsAuto)
			}
			o.Ports[proto] = []uint16{}
			continue
		}
		if o.Ports[proto] != nil && len(o.Ports[proto]) == 0 {
			return fmt.Errorf("%q: a protocol is either %s or on ports", item, PortsAuto)
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil || port == 0 {
			return fmt.Errorf("port %q in %q is not a number in 1-65535", portText, item)
		}
		if slices.Contains(o.Ports[proto], uint16(port)) {
			return fmt.Errorf("%q listed twice", item)
		}
		o.Ports[proto] = append(o.Ports[proto], uint16(port))
	}
	return nil
}

func parseInterfaces(v string, o *Overrides) error {
	items := splitList(v)
	if len(items) == 0 {
		return errors.New("at least one interface name is required, for example eth0,net1")
	}
	o.Interfaces = o.Interfaces[:0]
	for _, name := range items {
		if err := config.ValidateInterfaceName(name); err != nil {
			return fmt.Errorf("interface %q: %w", name, err)
		}
		if slices.Contains(o.Interfaces, name) {
			return fmt.Errorf("interface %q listed twice", name)
		}
		o.Interfaces = append(o.Interfaces, name)
	}
	return nil
}

func quantityParser(field func(*Overrides) **resource.Quantity) func(string, *Overrides) error {
	return func(v string, o *Overrides) error {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return errors.New("expected a Kubernetes quantity such as 100m, 1, 64Mi or 1Gi")
		}
		if q.Sign() <= 0 {
			return errors.New("must be greater than zero")
		}
		*field(o) = &q
		return nil
	}
}
