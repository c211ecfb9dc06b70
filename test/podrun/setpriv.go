package podrun

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// runtimeDefaultCaps is the capability set containerd and CRI-O give a container before its
// securityContext drops and adds.
var runtimeDefaultCaps = []string{
	"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
	"NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}

// knownCaps are the capability names setpriv accepts (capabilities(7)), without CAP_.
var knownCaps = []string{
	"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
	"DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
	"LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_ADMIN",
	"SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM",
}

// setpriv turns the pod's and the container's securityContext into setpriv flags, ending with
// "--", and reports readOnlyRootFilesystem. The process gets the uid and gid, the supplementary
// groups, a bounding set of the runtime's default capabilities minus drop plus add, empty
// inheritable and ambient sets (as runc gives since CVE-2022-24769), and no_new_privs when
// allowPrivilegeEscalation is false. A root process gains its bounding set at execve; any other
// uid gains nothing, as in Kubernetes, which has no ambient capabilities.
func setpriv(pod *corev1.Pod, c *corev1.Container, path string) ([]string, bool, error) {
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	ps := pod.Spec.SecurityContext
	if ps == nil {
		ps = &corev1.PodSecurityContext{}
	}
	field := path + ".securityContext"
	if sc.Privileged != nil && *sc.Privileged {
		return nil, false, fieldErr(field+".privileged", "true: a privileged container has every capability and device, which podrun does not give")
	}
	uid := sc.RunAsUser
	uidField := field + ".runAsUser"
	if uid == nil {
		uid, uidField = ps.RunAsUser, "spec.securityContext.runAsUser"
	}
	if uid == nil {
		return nil, false, fieldErr(field+".runAsUser", "not set here nor in spec.securityContext: the image's USER is unknown to podrun")
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = ps.RunAsNonRoot
	}
	if nonRoot != nil && *nonRoot && *uid == 0 {
		return nil, false, fieldErr(uidField, "0 with runAsNonRoot true: the kubelet refuses to start the container")
	}
	gid := sc.RunAsGroup
	if gid == nil {
		gid = ps.RunAsGroup
	}
	var g int64
	if gid != nil {
		g = *gid
	}
	args := []string{"--reuid=" + strconv.FormatInt(*uid, 10), "--regid=" + strconv.FormatInt(g, 10)}
	groups := slices.Clone(ps.SupplementalGroups)
	if ps.FSGroup != nil {
		groups = append(groups, *ps.FSGroup)
	}
	if len(groups) == 0 {
		args = append(args, "--clear-groups")
	} else {
		s := make([]string, len(groups))
		for i, gr := range groups {
			s[i] = strconv.FormatInt(gr, 10)
		}
		args = append(args, "--groups="+strings.Join(s, ","))
	}
	caps, err := capabilitySet(sc.Capabilities, field+".capabilities")
	if err != nil {
		return nil, false, err
	}
	bounding := "-all"
	for _, cp := range caps {
		bounding += ",+" + strings.ToLower(cp)
	}
	args = append(args, "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set="+bounding)
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		args = append(args, "--no-new-privs")
	}
	args = append(args, "--")
	return args, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, nil
}

// capabilitySet is the runtime's default set with drop removed and add added, sorted.
func capabilitySet(c *corev1.Capabilities, field string) ([]string, error) {
	set := slices.Clone(runtimeDefaultCaps)
	if c == nil {
		return set, nil
	}
	norm := func(list []corev1.Capability, f string) ([]string, error) {
		out := make([]string, 0, len(list))
		for i, cp := range list {
			n := strings.TrimPrefix(strings.ToUpper(string(cp)), "CAP_")
			if n != "ALL" && !slices.Contains(knownCaps, n) {
				return nil, fieldErr(f+"["+strconv.Itoa(i)+"]", "unknown capability %q", cp)
			}
			out = append(out, n)
		}
		return out, nil
	}
	drop, err := norm(c.Drop, field+".drop")
	if err != nil {
		return nil, err
	}
	add, err := norm(c.Add, field+".add")
	if err != nil {
		return nil, err
	}
	if slices.Contains(drop, "ALL") {
		set = nil
	}
	set = slices.DeleteFunc(set, func(cp string) bool { return slices.Contains(drop, cp) })
	if slices.Contains(add, "ALL") {
		set = slices.Clone(knownCaps)
	}
	for _, cp := range add {
		if cp != "ALL" && !slices.Contains(set, cp) {
			set = append(set, cp)
		}
	}
	slices.Sort(set)
	return set, nil
}
