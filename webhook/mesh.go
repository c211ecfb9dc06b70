package webhook

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/audit-io/wire-audit/capture/config"
)

// meshProxies maps the container name of a service-mesh proxy to its mesh. Istio injects
// istio-proxy (a native sidecar, among the init containers, in newer releases), Linkerd
// linkerd-proxy.
var meshProxies = map[string]string{
	"istio-proxy":   config.MeshIstio,
	"linkerd-proxy": config.MeshLinkerd,
}

// MeshOf returns the mesh whose proxy container the pod has, or "".
func MeshOf(pod *corev1.Pod) string {
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if m, ok := meshProxies[list[i].Name]; ok {
				return m
			}
		}
	}
	return ""
}

// applyMesh records the pod's mesh in c. In a mesh the application's plaintext is only on lo
// (eth0 carries mTLS), so lo joins an explicit interface list, unless the pod's interfaces
// annotation chose the list. An empty list means every interface; with a mesh, the sidecar
// counts lo among them.
func applyMesh(c *config.Config, mesh string, o *Overrides) {
	c.Mesh = mesh
	if mesh == "" || o.Interfaces != nil || len(c.Interfaces) == 0 || slices.Contains(c.Interfaces, "lo") {
		return
	}
	c.Interfaces = append(c.Interfaces, "lo")
}
