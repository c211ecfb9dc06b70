package podrun

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// resolver resolves references to the pod and to Secrets and ConfigMaps.
type resolver struct {
	pod  *corev1.Pod
	opts Options
}

// env is the container's environment in order, NAME=value: the kubelet's, without the
// service-link variables (enableServiceLinks) and the image's ENV, which the stand-in binary
// does not have.
func (r resolver) env(c *corev1.Container, path string) ([]string, error) {
	if len(c.EnvFrom) > 0 {
		return nil, fieldErr(path+".envFrom", "not supported")
	}
	vars := map[string]string{}
	var out []string
	for i, e := range c.Env {
		field := fmt.Sprintf("%s.env[%d]", path, i)
		var v string
		switch {
		case e.ValueFrom == nil:
			v = expand(e.Value, vars)
		case e.ValueFrom.FieldRef != nil:
			var err error
			if v, err = r.field(e.ValueFrom.FieldRef.FieldPath, field+".valueFrom.fieldRef.fieldPath"); err != nil {
				return nil, err
			}
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			b, ok := r.opts.Secrets[ref.Name][ref.Key]
			if !ok {
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				return nil, missingKey(field+".valueFrom.secretKeyRef", "Secret", ref.Name, ref.Key)
			}
			v = string(b)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			var ok bool
			if v, ok = r.opts.ConfigMaps[ref.Name][ref.Key]; !ok {
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				return nil, missingKey(field+".valueFrom.configMapKeyRef", "ConfigMap", ref.Name, ref.Key)
			}
		default:
			return nil, fieldErr(field+".valueFrom", "only fieldRef, secretKeyRef and configMapKeyRef are supported")
		}
		vars[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

func missingKey(field, kind, name, key string) error {
	return fieldErr(field, "%s %q key %q is not in Options.%ss", kind, name, key, kind)
}

// field is the value of a downward-API fieldPath, as the kubelet gives it to an environment
// variable or (for the maps) a volume file.
func (r resolver) field(fieldPath, field string) (string, error) {
	p := r.pod
	if key, ok := subscript(fieldPath, "metadata.labels"); ok {
		return p.Labels[key], nil
	}
	if key, ok := subscript(fieldPath, "metadata.annotations"); ok {
		return p.Annotations[key], nil
	}
	need := func(v, what, option string) (string, error) {
		if v == "" {
			return "", fieldErr(field, "%q: the stored pod has no %s and Options.%s is empty", fieldPath, what, option)
		}
		return v, nil
	}
	switch fieldPath {
	case "metadata.name":
		return p.Name, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "metadata.uid":
		return string(p.UID), nil
	case "metadata.labels":
		return formatMap(p.Labels), nil
	case "metadata.annotations":
		return formatMap(p.Annotations), nil
	case "spec.nodeName":
		return need(cmpOr(p.Spec.NodeName, r.opts.NodeName), "spec.nodeName", "NodeName")
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return need(cmpOr(p.Status.PodIP, r.opts.PodIP), "status.podIP", "PodIP")
	case "status.hostIP", "status.hostIPs":
		return need(cmpOr(p.Status.HostIP, r.opts.HostIP), "status.hostIP", "HostIP")
	}
	return "", fieldErr(field, "unsupported fieldPath %q", fieldPath)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// subscript parses `prefix['key']`.
func subscript(fieldPath, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(fieldPath, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap is the kubelet's format for metadata.labels and metadata.annotations in a
// downward-API file (k8s.io/kubernetes/pkg/fieldpath.FormatMap): `key="value"` lines, Go-quoted,
// sorted by key, without a final newline.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k + "=" + strconv.Quote(m[k]))
	}
	return b.String()
}

// expand replaces $(NAME) with the value of a variable defined before it, as the kubelet does in
// command, args and env values; $$ is a literal $, and a reference to an unknown name is kept.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				if v, ok := vars[name]; ok {
					b.WriteString(v)
				} else {
					b.WriteString(s[i : i+3+end])
				}
				i += 2 + end
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
