package webhook

// Annotation keys. Every key the webhook reads or writes is declared here, and only here; the
// parser table in parse.go refers to these constants so that error messages can never name a
// key that differs from the one that was read.
const (
	// AnnotationPrefix is the prefix of every key this project owns. An unknown key under it is
	// rejected, so a typo such as "audit.io/capture-port" denies the pod instead of being ignored.
	AnnotationPrefix = "audit.io/"

	// AnnotationCapture turns capture on for a pod.
	// Type: "true" or "false". Default: absent, which means no capture.
	// Example: audit.io/capture: "true"
	AnnotationCapture = "audit.io/capture"

	// AnnotationProtocols chooses which protocols the sidecar decodes.
	// Type: comma-separated list of mysql, pgsql, redis, http, dns, mongodb. Default: the cluster
	// defaults (every protocol). Example: audit.io/capture-protocols: "mysql,redis"
	AnnotationProtocols = "audit.io/capture-protocols"

	// AnnotationPorts sets the ports of one or more protocols, replacing that protocol's default
	// ports. A protocol may be named several times. Every protocol named must be enabled.
	// <protocol>:auto gives the protocol no ports: the sidecar recognises it by content on any
	// port that no protocol's explicit ports claim.
	// Type: comma-separated <protocol>:<port> or <protocol>:auto. Default: the cluster defaults.
	// Example: audit.io/capture-ports: "mysql:3306,mysql:13306,http:8081,redis:auto"
	AnnotationPorts = "audit.io/capture-ports"

	// AnnotationInterfaces lists the pod's network interfaces to capture on.
	// Type: comma-separated interface names (at most 15 bytes each). Default: every interface of
	// the pod except lo, which covers Multus interfaces such as net1.
	// Example: audit.io/capture-interfaces: "eth0,net1"
	AnnotationInterfaces = "audit.io/capture-interfaces"

	// AnnotationFlows turns per-connection flow records on or off.
	// Type: "true" or "false". Default: the cluster defaults (on).
	// Example: audit.io/capture-flows: "false"
	AnnotationFlows = "audit.io/capture-flows"

	// AnnotationKafkaTopic sends this pod's events to another Kafka topic.
	// Type: a Kafka topic name ([a-zA-Z0-9._-], at most 249). Default: the cluster default topic.
	// Example: audit.io/kafka-topic: "audit-payments"
	AnnotationKafkaTopic = "audit.io/kafka-topic"

	// AnnotationCPURequest sets the sidecar's CPU request.
	// Type: a Kubernetes quantity. Default: the cluster defaults.
	// Example: audit.io/sidecar-cpu-request: "100m"
	AnnotationCPURequest = "audit.io/sidecar-cpu-request"

	// AnnotationCPULimit sets the sidecar's CPU limit.
	// Type: a Kubernetes quantity. Default: the cluster defaults (none).
	// Example: audit.io/sidecar-cpu-limit: "1"
	AnnotationCPULimit = "audit.io/sidecar-cpu-limit"

	// AnnotationMemoryRequest sets the sidecar's memory request.
	// Type: a Kubernetes quantity. Default: the cluster defaults.
	// Example: audit.io/sidecar-memory-request: "64Mi"
	AnnotationMemoryRequest = "audit.io/sidecar-memory-request"

	// AnnotationMemoryLimit sets the sidecar's memory limit.
	// Type: a Kubernetes quantity. Default: the cluster defaults.
	// Example: audit.io/sidecar-memory-limit: "256Mi"
	AnnotationMemoryLimit = "audit.io/sidecar-memory-limit"

	// AnnotationStatus is written by the webhook, never by users: a JSON record of what was
	// injected. A pod that carries it, and still has the container it names, is left alone.
	// Example: audit.io/status: '{"version":1,"mode":"native","container":"audit-capture",...}'
	AnnotationStatus = "audit.io/status"

	// AnnotationRenderedConfig is written by the webhook, never by users: the pod's rendered
	// capture config as JSON. A downward-API volume mounts it into the sidecar as a file, so no
	// per-pod ConfigMap is needed.
	AnnotationRenderedConfig = "audit.io/rendered-config"
)

// PortsAuto is the port value of AnnotationPorts that means "recognise by content".
const PortsAuto = "auto"

// MirrorPodAnnotation marks a static pod's mirror in the API server.
const MirrorPodAnnotation = "kubernetes.io/config.mirror"
