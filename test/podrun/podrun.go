// Package podrun runs an injected pod's capture sidecar the way a kubelet would, as a local process
// in a network namespace that plays the pod. No kubelet or container runtime runs here, so
// Resolve does their part from the stored Pod object: it picks the container named in
// audit.io/status, resolves its environment (downward API included), writes its downward-API and
// Secret volumes to files, and turns its securityContext into setpriv flags. Start runs it.
//
// What is honoured: command/args (the image's ENTRYPOINT stands in for a missing command),
// env (value, fieldRef, secretKeyRef and configMapKeyRef from Options), $(VAR) expansion,
// downwardAPI, secret and emptyDir volumes, workingDir, runAsUser/runAsGroup/supplementalGroups,
// capabilities (bounding, inheritable, ambient sets), allowPrivilegeEscalation (no_new_privs),
// readOnlyRootFilesystem (the root mount is remounted read-only in the process's own mount
// namespace), and the startupProbe (httpGet). Anything else that would change how the process
// runs is an error naming the field; what cannot be applied without a runtime but does not change
// the process's behaviour here (seccomp, resources, image pull policy) is listed in
// Sidecar.NotApplied.
//
// Paths: volumes live under Options.Dir, not at their mountPath, so path prefixes in command and
// args that point under a mount are rewritten. Files are written byte for byte; a config file
// that itself names a path under a mount is an error, because the process could not find it.
package podrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/audit-io/wire-audit/internal/imagebuild"
	"github.com/audit-io/wire-audit/webhook"
)

// DefaultEntrypoint is the capture image's ENTRYPOINT when Options.Entrypoint is empty, as
// make images writes it into the image's config.
var DefaultEntrypoint = imagebuild.Capture.Entrypoint

// Options configure Resolve.
type Options struct {
	// Binaries maps a container image, as rendered, to a local binary that stands in for the
	// image's ENTRYPOINT[0]. Required: an image without an entry is an error.
	Binaries map[string]string
	// Entrypoint is the image's ENTRYPOINT (exec form); default DefaultEntrypoint. A container
	// command replaces it, as in Kubernetes, and must then start with the same program.
	Entrypoint []string
	// Dir is where volumes are written, one subdirectory per volume. Required; it should be
	// empty and owned by the caller (t.TempDir()).
	Dir string
	// NodeName stands in for spec.nodeName when the stored pod has none (no scheduler runs).
	NodeName string
	// PodIP stands in for status.podIP (and status.podIPs) when the stored pod has none, and is
	// where the startup probe connects; default 127.0.0.1 for the probe.
	PodIP string
	// HostIP stands in for status.hostIP.
	HostIP string
	// Secrets and ConfigMaps hold the data of the objects a secretKeyRef, configMapKeyRef or
	// secret volume names, by object name then key. A reference to anything missing is an
	// error unless the reference is optional.
	Secrets    map[string]map[string][]byte
	ConfigMaps map[string]map[string]string
}

// Sidecar is the pod's sidecar container as the kubelet would start it.
type Sidecar struct {
	// Container is the sidecar exactly as stored in the pod.
	Container corev1.Container
	// Native is true for an init container with restartPolicy Always.
	Native bool
	// Argv is the local binary and its arguments, with paths under mounts rewritten.
	Argv []string
	// Env is the whole environment of the process, NAME=value, in the container's order.
	Env []string
	// Setpriv is setpriv's flags for the securityContext, up to and including "--".
	Setpriv []string
	// ReadOnlyRoot is securityContext.readOnlyRootFilesystem.
	ReadOnlyRoot bool
	// WorkDir is the process's working directory.
	WorkDir string
	// Mounts maps each volumeMount's mountPath to the local directory or file standing in for it.
	Mounts map[string]string
	// ConfigFile and LabelsFile are the local files the --config and --labels-file arguments
	// name, empty when there is no such argument.
	ConfigFile, LabelsFile string
	// Probe is the startup probe's URL as the kubelet would poll it, empty without an httpGet
	// startupProbe; ProbeTimeout is periodSeconds × failureThreshold.
	Probe        string
	ProbeTimeout int
	// NotApplied lists the fields that have no effect here, with why.
	NotApplied []string
}

// FieldError is a field of the pod that Resolve cannot honour.
type FieldError struct {
	Field string // a path in the pod, e.g. spec.initContainers[0].securityContext.privileged
	Msg   string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Resolve finds the container audit.io/status names and resolves everything the kubelet would.
// It writes the pod's volumes under opts.Dir.
func Resolve(pod *corev1.Pod, opts Options) (*Sidecar, error) {
	if opts.Dir == "" {
		return nil, errors.New("podrun: Options.Dir is required")
	}
	c, path, native, err := findSidecar(pod)
	if err != nil {
		return nil, err
	}
	s := &Sidecar{Container: *c.DeepCopy(), Native: native, WorkDir: "/"}
	if c.WorkingDir != "" {
		s.WorkDir = c.WorkingDir
	}
	r := resolver{pod: pod, opts: opts}
	env, err := r.env(c, path)
	if err != nil {
		return nil, err
	}
	s.Env = env
	if s.Mounts, err = r.volumes(c, path); err != nil {
		return nil, err
	}
	if s.Argv, err = argv(c, path, opts, env, s.Mounts); err != nil {
		return nil, err
	}
	if s.Setpriv, s.ReadOnlyRoot, err = setpriv(pod, c, path); err != nil {
		return nil, err
	}
	if err := s.files(path); err != nil {
		return nil, err
	}
	if err := s.probe(c, path, opts.PodIP); err != nil {
		return nil, err
	}
	s.NotApplied = notApplied(pod, c, path)
	return s, nil
}

// findSidecar returns the container audit.io/status names, its field path and whether it is a
// native sidecar.
func findSidecar(pod *corev1.Pod) (*corev1.Container, string, bool, error) {
	const field = "metadata.annotations['" + webhook.AnnotationStatus + "']"
	raw, ok := pod.Annotations[webhook.AnnotationStatus]
	if !ok {
		return nil, "", false, fieldErr(field, "missing: the pod did not go through the webhook")
	}
	var st webhook.Status
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, "", false, fieldErr(field, "invalid value %q: %v", raw, err)
	}
	if st.Container == "" {
		return nil, "", false, fieldErr(field, "invalid value %q: no container named", raw)
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; c.Name == st.Container {
			native := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
			return c, fmt.Sprintf("spec.initContainers[%d]", i), native, nil
		}
	}
	for i := range pod.Spec.Containers {
		if c := &pod.Spec.Containers[i]; c.Name == st.Container {
			return c, fmt.Sprintf("spec.containers[%d]", i), false, nil
		}
	}
	return nil, "", false, fieldErr(field, "names container %q, which the pod does not have", st.Container)
}

// argv is the local binary and its arguments: command (or the image's ENTRYPOINT) then args,
// with $(VAR) expanded from env and paths under mounts rewritten.
func argv(c *corev1.Container, path string, opts Options, env []string, mounts map[string]string) ([]string, error) {
	bin, ok := opts.Binaries[c.Image]
	if !ok {
		return nil, fieldErr(path+".image", "no local binary stands in for image %q (Options.Binaries)", c.Image)
	}
	entry := opts.Entrypoint
	if len(entry) == 0 {
		entry = DefaultEntrypoint
	}
	cmd := entry
	if len(c.Command) > 0 {
		if c.Command[0] != entry[0] {
			return nil, fieldErr(path+".command[0]", "%q is not the image's entrypoint %q, the only program podrun can run", c.Command[0], entry[0])
		}
		cmd = c.Command
	}
	vars := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	out := []string{bin}
	for _, a := range cmd[1:] {
		out = append(out, rewritePath(expand(a, vars), mounts))
	}
	for _, a := range c.Args {
		out = append(out, rewritePath(expand(a, vars), mounts))
	}
	return out, nil
}

// rewritePath maps an argument that is a path under a mount, bare or as the value of
// --flag=PATH, to the local file; other arguments are returned unchanged.
func rewritePath(arg string, mounts map[string]string) string {
	prefix, val := "", arg
	if strings.HasPrefix(arg, "-") {
		var ok bool
		if prefix, val, ok = strings.Cut(arg, "="); !ok {
			return arg
		}
		prefix += "="
	}
	if local, ok := localPath(val, mounts); ok {
		return prefix + local
	}
	return arg
}

// localPath maps p to the local path when it lies under a mount (the longest mountPath wins,
// as nested mounts shadow their parent).
func localPath(p string, mounts map[string]string) (string, bool) {
	best := ""
	for mp := range mounts {
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	if best == "" {
		return "", false
	}
	return filepath.Join(mounts[best], strings.TrimPrefix(p, best)), true
}

// files finds the config and labels files among the arguments, and checks that the config names
// no path under a mount, which the process could not find at its local place.
func (s *Sidecar) files(path string) error {
	args := s.Argv[1:]
	for i, a := range args {
		for _, f := range []struct {
			flag string
			dst  *string
		}{{"config", &s.ConfigFile}, {"labels-file", &s.LabelsFile}} {
			for _, dash := range []string{"-", "--"} {
				name := dash + f.flag
				switch {
				case strings.HasPrefix(a, name+"="):
					*f.dst = strings.TrimPrefix(a, name+"=")
				case a == name && i+1 < len(args):
					*f.dst = args[i+1]
				}
			}
		}
	}
	if s.ConfigFile == "" {
		return nil
	}
	b, err := os.ReadFile(s.ConfigFile)
	if err != nil {
		return fmt.Errorf("podrun: read the config file the args name: %w", err)
	}
	var doc any
	if json.Unmarshal(b, &doc) != nil {
		return nil // not JSON: the process reports that itself
	}
	var paths []string
	walkStrings(doc, func(v string) {
		if _, ok := localPath(v, s.Mounts); ok {
			paths = append(paths, v)
		}
	})
	if len(paths) > 0 {
		slices.Sort(paths)
		return fieldErr(path+".args", "the config file %s names %s under a volumeMount; podrun rewrites paths in args only, so the process could not find it",
			s.ConfigFile, strings.Join(paths, ", "))
	}
	return nil
}

// walkStrings calls fn with every string in a decoded JSON document.
func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	}
}

// notApplied lists the fields set on the pod that have no effect on a local process.
func notApplied(pod *corev1.Pod, c *corev1.Container, path string) []string {
	var out []string
	sc := c.SecurityContext
	if sc != nil && sc.SeccompProfile != nil {
		out = append(out, path+".securityContext.seccompProfile: no seccomp filter is installed")
	}
	if ps := pod.Spec.SecurityContext; ps != nil && ps.SeccompProfile != nil {
		out = append(out, "spec.securityContext.seccompProfile: no seccomp filter is installed")
	}
	if len(c.Resources.Limits) > 0 || len(c.Resources.Requests) > 0 {
		out = append(out, path+".resources: no cgroup limits are set")
	}
	if c.ImagePullPolicy != "" {
		out = append(out, path+".imagePullPolicy: a local binary stands in for the image")
	}
	return out
}
