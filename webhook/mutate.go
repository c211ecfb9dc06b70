package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Outcome is what the webhook did with one pod. It is also the metrics label.
type Outcome string

const (
	OutcomeInjected Outcome = "injected"
	OutcomeSkipped  Outcome = "skipped"
	OutcomeDenied   Outcome = "denied"
	OutcomeErrored  Outcome = "errored"
)

// Reasons for a skip or a denial. They are metrics labels, so the set is closed.
const (
	ReasonNotAnnotated      = "not-annotated"
	ReasonCaptureFalse      = "capture-false"
	ReasonAlreadyInjected   = "already-injected"
	ReasonHostNetwork       = "host-network"
	ReasonMirrorPod         = "mirror-pod"
	ReasonOwnNamespace      = "own-namespace"
	ReasonWindowsPod        = "windows-pod"
	ReasonNotPodCreate      = "not-pod-create"
	ReasonInvalidAnnotation = "invalid-annotation"
	ReasonDecode            = "decode"
	ReasonInternal          = "internal"
)

// Result is the decision for one pod.
type Result struct {
	Outcome Outcome
	Reason  string
	// Warnings go back to the user as admission warnings.
	Warnings []string
	// Err explains a denial or an internal error.
	Err error
	// Pod is the mutated copy when Outcome is OutcomeInjected.
	Pod *corev1.Pod
}

// InjectorOptions configure an Injector.
type InjectorOptions struct {
	// Defaults are the cluster defaults. Required; validated by New.
	Defaults Defaults
	// Mode is ModeNative or ModeContainer. ModeAuto must be resolved first (see ResolveMode).
	Mode Mode
	// Namespace is the webhook's own namespace, whose pods are never injected. Optional.
	Namespace string
}

// Injector decides and renders. It holds no mutable state and is safe for concurrent use.
type Injector struct {
	defaults  Defaults
	mode      Mode
	namespace string
}

// NewInjector validates the options.
func NewInjector(opts InjectorOptions) (*Injector, error) {
	if err := opts.Defaults.Validate(); err != nil {
		return nil, fmt.Errorf("invalid defaults: %w", err)
	}
	if opts.Mode != ModeNative && opts.Mode != ModeContainer {
		return nil, fmt.Errorf("injector mode %q: must be %q or %q (resolve %q first)", opts.Mode, ModeNative, ModeContainer, ModeAuto)
	}
	return &Injector{defaults: opts.Defaults, mode: opts.Mode, namespace: opts.Namespace}, nil
}

// Mutate decides what to do with a pod being created in namespace and, when it injects,
// returns a mutated deep copy. The input pod is never modified.
func (in *Injector) Mutate(pod *corev1.Pod, namespace string) Result {
	value, annotated := pod.Annotations[AnnotationCapture]
	switch {
	case !annotated:
		return Result{Outcome: OutcomeSkipped, Reason: ReasonNotAnnotated}
	case value == "false":
		return Result{Outcome: OutcomeSkipped, Reason: ReasonCaptureFalse}
	case alreadyInjected(pod, in.defaults.Sidecar.Image):
		return Result{Outcome: OutcomeSkipped, Reason: ReasonAlreadyInjected}
	}
	overrides, err := ParseAnnotations(pod.Annotations)
	if err != nil {
		return Result{Outcome: OutcomeDenied, Reason: ReasonInvalidAnnotation, Err: err}
	}
	if err := in.checkCombination(&overrides, pod.Annotations); err != nil {
		return Result{Outcome: OutcomeDenied, Reason: ReasonInvalidAnnotation, Err: err}
	}
	skip := func(reason, why string) Result {
		return Result{Outcome: OutcomeSkipped, Reason: reason,
			Warnings: []string{fmt.Sprintf("%s=true ignored: capture sidecar not injected: %s", AnnotationCapture, why)}}
	}
	switch {
	case in.namespace != "" && namespace == in.namespace:
		return skip(ReasonOwnNamespace, "the webhook never injects into its own namespace "+namespace)
	case pod.Spec.HostNetwork:
		return skip(ReasonHostNetwork, "hostNetwork pods share the node's network, and capture would record the node's traffic")
	case pod.Annotations[MirrorPodAnnotation] != "":
		return skip(ReasonMirrorPod, "static (mirror) pods are not managed through the API server")
	case pod.Spec.OS != nil && pod.Spec.OS.Name == corev1.Windows:
		return skip(ReasonWindowsPod, "capture needs Linux AF_PACKET sockets")
	}
	out := pod.DeepCopy()
	cfg := RenderConfig(&in.defaults, &overrides, namespace, pod.Labels)
	applyMesh(&cfg, MeshOf(pod), &overrides)
	if err := cfg.Validate(); err != nil {
		return Result{Outcome: OutcomeErrored, Reason: ReasonInternal, Err: fmt.Errorf("rendered config: %w", err)}
	}
	if err := inject(out, &in.defaults, &overrides, &cfg, in.mode); err != nil {
		return Result{Outcome: OutcomeErrored, Reason: ReasonInternal, Err: err}
	}
	return Result{Outcome: OutcomeInjected, Pod: out}
}

// checkCombination enforces rules that span several annotations or depend on the defaults.
func (in *Injector) checkCombination(o *Overrides, annotations map[string]string) error {
	var errs []error
	enabled := o.Protocols
	if enabled == nil {
		enabled = sortedKeys(in.defaults.Capture.Protocols)
	}
	for _, p := range sortedKeys(o.Ports) {
		if !slices.Contains(enabled, p) {
			source := "the cluster defaults"
			if o.Protocols != nil {
				source = AnnotationProtocols
			}
			errs = append(errs, &AnnotationError{Key: AnnotationPorts, Value: annotations[AnnotationPorts],
				Msg: fmt.Sprintf("protocol %q is not enabled by %s (enabled: %v)", p, source, enabled)})
		}
	}
	r := resources(&in.defaults, o)
	for _, name := range requestsOverLimits(&r) {
		reqKey, limKey := AnnotationCPURequest, AnnotationCPULimit
		if name == corev1.ResourceMemory {
			reqKey, limKey = AnnotationMemoryRequest, AnnotationMemoryLimit
		}
		// Name the annotation the pod set; if it set both, the request is the one to blame.
		key, msg := reqKey, fmt.Sprintf("request exceeds the %s limit %s", name, r.Limits.Name(name, resource.DecimalSI).String())
		if _, ok := annotations[key]; !ok {
			key, msg = limKey, fmt.Sprintf("limit is below the %s request %s of the cluster defaults", name, r.Requests.Name(name, resource.DecimalSI).String())
		}
		errs = append(errs, &AnnotationError{Key: key, Value: annotations[key], Msg: msg})
	}
	return errors.Join(errs...)
}

// alreadyInjected is true when the status annotation names a container the pod still has and
// that container runs the capture image. The image check keeps a hand-written status annotation
// that names an app container from opting an annotated pod out of capture.
func alreadyInjected(pod *corev1.Pod, image string) bool {
	raw, ok := pod.Annotations[AnnotationStatus]
	if !ok {
		return false
	}
	var s Status
	if json.Unmarshal([]byte(raw), &s) != nil || s.Container == "" {
		return false
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == s.Container {
				return list[i].Image == image
			}
		}
	}
	return false
}
