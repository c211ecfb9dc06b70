package podrun

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// volumes writes the volumes the container mounts under opts.Dir, one directory per volume, and
// returns mountPath -> local path.
func (r resolver) volumes(c *corev1.Container, path string) (map[string]string, error) {
	mounts := map[string]string{}
	for i, m := range c.VolumeMounts {
		field := fmt.Sprintf("%s.volumeMounts[%d]", path, i)
		vi := -1
		for j := range r.pod.Spec.Volumes {
			if r.pod.Spec.Volumes[j].Name == m.Name {
				vi = j
			}
		}
		if vi < 0 {
			return nil, fieldErr(field+".name", "no volume %q in spec.volumes", m.Name)
		}
		if m.SubPathExpr != "" {
			return nil, fieldErr(field+".subPathExpr", "not supported")
		}
		dir := filepath.Join(r.opts.Dir, m.Name)
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			if err := r.writeVolume(&r.pod.Spec.Volumes[vi], fmt.Sprintf("spec.volumes[%d]", vi), dir); err != nil {
				return nil, err
			}
		}
		if !filepath.IsAbs(m.MountPath) {
			return nil, fieldErr(field+".mountPath", "%q is not absolute", m.MountPath)
		}
		mounts[filepath.Clean(m.MountPath)] = filepath.Join(dir, m.SubPath)
	}
	return mounts, nil
}

// writeVolume fills dir with what the kubelet would put in the volume.
func (r resolver) writeVolume(v *corev1.Volume, field, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	switch {
	case v.EmptyDir != nil:
		return nil
	case v.DownwardAPI != nil:
		for i, it := range v.DownwardAPI.Items {
			f := fmt.Sprintf("%s.downwardAPI.items[%d]", field, i)
			if it.FieldRef == nil {
				return fieldErr(f, "only fieldRef items are supported")
			}
			val, err := r.field(it.FieldRef.FieldPath, f+".fieldRef.fieldPath")
			if err != nil {
				return err
			}
			if err := writeFile(dir, it.Path, f+".path", []byte(val)); err != nil {
				return err
			}
		}
		return nil
	case v.Secret != nil:
		data, ok := r.opts.Secrets[v.Secret.SecretName]
		if !ok {
			if v.Secret.Optional != nil && *v.Secret.Optional {
				return nil
			}
			return fieldErr(field+".secret.secretName", "Secret %q is not in Options.Secrets", v.Secret.SecretName)
		}
		if len(v.Secret.Items) == 0 {
			for k, b := range data {
				if err := writeFile(dir, k, field+".secret", b); err != nil {
					return err
				}
			}
			return nil
		}
		for i, it := range v.Secret.Items {
			f := fmt.Sprintf("%s.secret.items[%d]", field, i)
			b, ok := data[it.Key]
			if !ok {
				return fieldErr(f+".key", "Secret %q has no key %q in Options.Secrets", v.Secret.SecretName, it.Key)
			}
			if err := writeFile(dir, it.Path, f+".path", b); err != nil {
				return err
			}
		}
		return nil
	}
	return fieldErr(field, "volume %q: only emptyDir, downwardAPI and secret volumes are supported", v.Name)
}

// writeFile writes a volume file at rel below dir; rel must stay inside dir, as the API server
// also checks.
func writeFile(dir, rel, field string, b []byte) error {
	if rel == "" || filepath.IsAbs(rel) || strings.HasPrefix(filepath.Clean(rel), "..") {
		return fieldErr(field, "invalid path %q", rel)
	}
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}
