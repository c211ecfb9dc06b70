package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Path is where the mutating webhook is served; config/webhook/manifests.yaml points here.
const Path = "/mutate-v1-pod"

// Handler is the admission.Handler for Pod CREATE. The API server calls it once per pod (twice
// on reinvocation), concurrently.
type Handler struct {
	decoder  admission.Decoder
	injector *Injector
	metrics  *Metrics
}

// NewHandler wires a handler. metrics may be nil.
func NewHandler(decoder admission.Decoder, injector *Injector, metrics *Metrics) (*Handler, error) {
	if decoder == nil || injector == nil {
		return nil, errors.New("webhook handler needs a decoder and an injector")
	}
	return &Handler{decoder: decoder, injector: injector, metrics: metrics}, nil
}

var podResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	res, resp := h.handle(req)
	h.metrics.observe(&res)
	logger := log.FromContext(ctx).WithValues("namespace", req.Namespace, "uid", req.UID)
	switch res.Outcome {
	case OutcomeInjected:
		logger.V(1).Info("injected", "pod", podName(res.Pod), "status", res.Pod.Annotations[AnnotationStatus])
	case OutcomeDenied:
		logger.Info("denied", "reason", res.Reason, "error", res.Err)
	case OutcomeErrored:
		logger.Error(res.Err, "admission failed", "reason", res.Reason)
	default:
		logger.V(1).Info("skipped", "reason", res.Reason)
	}
	return resp
}

func (h *Handler) handle(req admission.Request) (Result, admission.Response) {
	if req.Operation != admissionv1.Create || req.Resource != podResource || req.SubResource != "" {
		return Result{Outcome: OutcomeSkipped, Reason: ReasonNotPodCreate}, admission.Allowed("")
	}
	pod := &corev1.Pod{}
	if err := h.decoder.Decode(req, pod); err != nil {
		res := Result{Outcome: OutcomeErrored, Reason: ReasonDecode, Err: err}
		return res, admission.Errored(http.StatusBadRequest, err)
	}
	res := h.injector.Mutate(pod, req.Namespace)
	switch res.Outcome {
	case OutcomeDenied:
		return res, admission.Denied(res.Err.Error())
	case OutcomeErrored:
		return res, admission.Errored(http.StatusInternalServerError, res.Err)
	case OutcomeSkipped:
		return res, admission.Allowed(res.Reason).WithWarnings(res.Warnings...)
	}
	mutated, err := json.Marshal(res.Pod)
	if err != nil {
		res = Result{Outcome: OutcomeErrored, Reason: ReasonInternal, Err: err}
		return res, admission.Errored(http.StatusInternalServerError, err)
	}
	return res, admission.PatchResponseFromRaw(req.Object.Raw, mutated)
}

func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	return p.GenerateName
}
