package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/kafkatest"
	"github.com/audit-io/wire-audit/test/node"
	"github.com/audit-io/wire-audit/test/nodeapp"
)

var annotations = map[string]string{"audit.io/capture": "true"}

// TestMain stops the shared stack after the last test.
func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(sharedStop) - 1; i >= 0; i-- {
		sharedStop[i]()
	}
	os.Exit(code)
}

// TestWorkloadsOnNode installs the chart on a real node, runs an annotated Deployment and an
// annotated Job whose app makes real transactions, and checks what the kubelet and the runtime
// did with the injected sidecar, and that every transaction reached Kafka with the pod's real
// identity.
func TestWorkloadsOnNode(t *testing.T) {
	s := getStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cs := s.Node.Clients

	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: Namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "orders"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "orders", "tier": "backend"}, Annotations: annotations},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{nodeapp.AppContainer(nodeapp.AppOptions{Rounds: 1})}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: Namespace},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32(0)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "migrate"}, Annotations: annotations},
				Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{nodeapp.AppContainer(nodeapp.AppOptions{Rounds: 1, Exit: true})}},
			},
		},
	}
	job, err := cs.BatchV1().Jobs(Namespace).Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// The Job completes through the Job controller: its pod Succeeded although the native
	// sidecar never exits on its own.
	if err := waitUntil(ctx, 3*time.Minute, func() (bool, error) {
		j, err := cs.BatchV1().Jobs(Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				return false, fmt.Errorf("job failed: %s", c.Message)
			}
		}
		return j.Status.Succeeded == 1 && hasCondition(j.Status.Conditions, batchv1.JobComplete), nil
	}); err != nil {
		t.Fatalf("job %s: %v\n%s", job.Name, err, s.Describe(ctx, Namespace))
	}
	if err := s.WaitDeploymentReady(ctx, Namespace, dep.Name, 1, 2*time.Minute); err != nil {
		t.Fatalf("%v\n%s", err, s.Describe(ctx, Namespace))
	}
	depPod := onlyPod(ctx, t, s, "app=orders", corev1.PodRunning)
	jobPod := onlyPod(ctx, t, s, "batch.kubernetes.io/job-name="+job.Name, corev1.PodSucceeded)

	want := map[string][]string{}
	for _, pod := range []*corev1.Pod{depPod, jobPod} {
		sidecar := checkSidecarStartedFirst(t, pod)
		want[pod.Name] = appTransactions(ctx, t, s, pod)
		if pod == depPod {
			checkSecurity(ctx, t, s, pod, sidecar)
		}
		if ref := metav1.GetControllerOf(pod); ref == nil {
			t.Errorf("pod %s has no controller", pod.Name)
		}
	}
	got := s.collect(t, want, 60*time.Second)
	stored := map[string]*corev1.Pod{depPod.Name: depPod, jobPod.Name: jobPod}
	for name, evs := range got {
		for _, ev := range evs {
			checkKubernetes(t, ev.ev.Kubernetes, stored[name], ev.raw)
		}
	}
	// kcat, an independent consumer, sees the same records.
	records := kafkatest.KcatEvents(t, exec.Command, s.Broker)
	seen := map[string]int{}
	for _, r := range records {
		if r.Event.Type == event.TypeLoss {
			t.Errorf("loss event: %s", r.Value)
		}
		if r.Event.Kubernetes != nil && r.Event.Type != event.TypeFlow {
			seen[r.Event.Kubernetes.Pod.Name]++
		}
	}
	for name, w := range want {
		if seen[name] < len(w) {
			t.Errorf("kcat read %d transaction events of pod %s, want at least %d", seen[name], name, len(w))
		}
	}
}

// TestAdmissionOnNode: an unannotated pod gets no sidecar, and an invalid annotation is refused
// through the webhook's Service with the key named.
func TestAdmissionOnNode(t *testing.T) {
	s := getStack(t)
	ctx := t.Context()
	plain := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: Namespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: node.PauseImage, ImagePullPolicy: corev1.PullNever}}},
	}
	got, err := s.Node.Clients.CoreV1().Pods(Namespace).Create(ctx, plain, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Spec.InitContainers) != 0 || len(got.Spec.Containers) != 1 || got.Annotations["audit.io/status"] != "" {
		t.Errorf("an unannotated pod was changed: init %v, containers %d, annotations %v", got.Spec.InitContainers, len(got.Spec.Containers), got.Annotations)
	}
	bad := plain.DeepCopy()
	bad.Name = "bad"
	bad.Annotations = map[string]string{"audit.io/capture": "true", "audit.io/capture-ports": "mysql:abc"}
	_, err = s.Node.Clients.CoreV1().Pods(Namespace).Create(ctx, bad, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), `annotation "audit.io/capture-ports"`) || !strings.Contains(err.Error(), "mysql:abc") {
		t.Errorf("a pod with audit.io/capture-ports=mysql:abc: err = %v, want a denial naming the key and the value", err)
	}
}

func hasCondition(cs []batchv1.JobCondition, typ batchv1.JobConditionType) bool {
	for _, c := range cs {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func onlyPod(ctx context.Context, t *testing.T, s *stack, selector string, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	err := waitUntil(ctx, time.Minute, func() (bool, error) {
		l, err := s.Node.Clients.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		if len(l.Items) == 1 && l.Items[0].Status.Phase == phase {
			pod = &l.Items[0]
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("one pod %s in phase %s: %v\n%s", selector, phase, err, s.Describe(ctx, Namespace))
	}
	return pod
}

// checkSidecarStartedFirst checks that the stored pod has the native sidecar first, and that
// the kubelet started it and saw its startup probe pass before it started the app.
func checkSidecarStartedFirst(t *testing.T, pod *corev1.Pod) corev1.Container {
	t.Helper()
	var status struct {
		Container string `json:"container"`
	}
	if err := json.Unmarshal([]byte(pod.Annotations["audit.io/status"]), &status); err != nil || status.Container == "" {
		t.Fatalf("pod %s: audit.io/status %q: %v", pod.Name, pod.Annotations["audit.io/status"], err)
	}
	if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != status.Container {
		t.Fatalf("pod %s: the sidecar %s is not the first init container", pod.Name, status.Container)
	}
	sc := pod.Spec.InitContainers[0]
	if sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways || sc.StartupProbe == nil {
		t.Errorf("pod %s: the sidecar is not a native sidecar with a startupProbe: %+v", pod.Name, sc)
	}
	var scStatus, appStatus *corev1.ContainerStatus
	for i := range pod.Status.InitContainerStatuses {
		if pod.Status.InitContainerStatuses[i].Name == sc.Name {
			scStatus = &pod.Status.InitContainerStatuses[i]
		}
	}
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == "app" {
			appStatus = &pod.Status.ContainerStatuses[i]
		}
	}
	if scStatus == nil || appStatus == nil {
		t.Fatalf("pod %s: no status for the sidecar or the app: %+v", pod.Name, pod.Status)
	}
	scStart, appStart := startedAt(scStatus), startedAt(appStatus)
	if pod.Status.Phase == corev1.PodRunning && (scStatus.Started == nil || !*scStatus.Started) {
		t.Errorf("pod %s: the kubelet does not report the sidecar started (startup probe): %+v", pod.Name, scStatus)
	}
	if scStart.IsZero() || appStart.IsZero() || appStart.Before(scStart) {
		t.Errorf("pod %s: sidecar started at %v, app at %v: the app must start after the sidecar", pod.Name, scStart, appStart)
	}
	t.Logf("pod %s: sidecar started %v, app %v later", pod.Name, scStart.Format(time.RFC3339), appStart.Sub(scStart))
	return sc
}

func startedAt(st *corev1.ContainerStatus) time.Time {
	switch {
	case st.State.Running != nil:
		return st.State.Running.StartedAt.Time
	case st.State.Terminated != nil:
		return st.State.Terminated.StartedAt.Time
	case st.LastTerminationState.Terminated != nil:
		return st.LastTerminationState.Terminated.StartedAt.Time
	}
	return time.Time{}
}

// appTransactions reads, through the kubelet, what the app says it did.
func appTransactions(ctx context.Context, t *testing.T, s *stack, pod *corev1.Pod) []string {
	t.Helper()
	var lines []string
	err := waitUntil(ctx, time.Minute, func() (bool, error) {
		b, err := s.Node.Clients.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "app"}).DoRaw(ctx)
		if err != nil {
			return false, nil
		}
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return slices.Contains(lines, "done"), nil
	})
	if err != nil {
		t.Fatalf("pod %s: the app did not finish its round: %v: %q", pod.Name, err, lines)
	}
	var out []string
	for _, l := range lines {
		if tx, ok := strings.CutPrefix(l, "tx "); ok {
			out = append(out, tx)
		}
	}
	if len(out) != 7 {
		t.Fatalf("pod %s: the app reports %d transactions, want 7: %q", pod.Name, len(out), lines)
	}
	return out
}

// checkSecurity execs `capture selfcheck` in the running sidecar through the kubelet and checks
// the security context as the runtime applied it.
func checkSecurity(ctx context.Context, t *testing.T, s *stack, pod *corev1.Pod, sc corev1.Container) {
	t.Helper()
	args := append([]string{"-n", pod.Namespace, "exec", pod.Name, "-c", sc.Name, "--"}, s.CaptureEntrypoint...)
	out, err := s.Node.Kubectl(ctx, append(args, "selfcheck")...)
	if err != nil {
		t.Fatalf("kubectl exec selfcheck: %v\n%s", err, out)
	}
	var got struct {
		Sidecar, Self struct {
			CapEff, CapBnd, CapPrm, NoNewPrivs, Seccomp string
		}
		RootReadOnly, ServiceAccountToken bool
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("selfcheck output: %v\n%s", err, out)
	}
	const netAdminRaw = "0000000000003000" // CAP_NET_ADMIN (12) and CAP_NET_RAW (13)
	for who, p := range map[string]struct{ CapEff, CapBnd, CapPrm, NoNewPrivs, Seccomp string }{"sidecar": got.Sidecar, "exec": got.Self} {
		if p.CapEff != netAdminRaw || p.CapBnd != netAdminRaw || p.NoNewPrivs != "1" || p.Seccomp != "2" {
			t.Errorf("%s in the sidecar: CapEff %s CapBnd %s NoNewPrivs %s Seccomp %s; want CapEff=CapBnd=%s, NoNewPrivs 1, Seccomp 2 (filter)",
				who, p.CapEff, p.CapBnd, p.NoNewPrivs, p.Seccomp, netAdminRaw)
		}
	}
	if !got.RootReadOnly {
		t.Error("the sidecar's root filesystem is writable")
	}
	if got.ServiceAccountToken {
		t.Error("an API token is mounted in the sidecar")
	}
	t.Logf("selfcheck in %s/%s: %s", pod.Name, sc.Name, strings.Join(strings.Fields(out), " "))
}

// decoded is an event from Kafka and its JSON.
type decoded struct {
	ev  *event.Event
	raw string
}

// collect waits until Kafka holds exactly the transactions in want (per pod: "type status method
// query") and returns each pod's transaction events.
func (s *stack) collect(t *testing.T, want map[string][]string, timeout time.Duration) map[string][]decoded {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := map[string][]string{}
		evs := map[string][]decoded{}
		s.records.mu.Lock()
		recs := slices.Clone(s.records.recs)
		s.records.mu.Unlock()
		for _, r := range recs {
			var ev event.Event
			if err := json.Unmarshal(r.rec.Value, &ev); err != nil {
				t.Fatalf("a record that is not an event: %v: %s", err, r.rec.Value)
			}
			if ev.Kubernetes == nil || ev.Type == event.TypeFlow || ev.Type == event.TypeLoss {
				continue
			}
			name := ev.Kubernetes.Pod.Name
			if _, ok := want[name]; !ok {
				continue
			}
			got[name] = append(got[name], strings.TrimSpace(strings.Join([]string{ev.Type, ev.Status, ev.Method, ev.Query}, " ")))
			evs[name] = append(evs[name], decoded{&ev, string(r.rec.Value)})
		}
		same := true
		for name, w := range want {
			w, g := slices.Sorted(slices.Values(w)), slices.Sorted(slices.Values(got[name]))
			if !slices.Equal(w, g) {
				same = false
				if time.Now().After(deadline) {
					t.Errorf("pod %s: transactions in Kafka\n%s\nwant exactly\n%s", name, strings.Join(g, "\n"), strings.Join(w, "\n"))
				}
			}
		}
		if same || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkKubernetes compares an event's kubernetes.* with the pod as stored.
func checkKubernetes(t *testing.T, k *event.Kubernetes, pod *corev1.Pod, val string) {
	t.Helper()
	if k.Namespace != pod.Namespace || k.Pod.Name != pod.Name || k.Pod.UID != string(pod.UID) ||
		k.Node.Name != pod.Spec.NodeName || !maps.Equal(k.Labels, pod.Labels) {
		t.Errorf("kubernetes metadata %+v, want namespace %s pod %s uid %s node %s labels %v: %s",
			*k, pod.Namespace, pod.Name, pod.UID, pod.Spec.NodeName, pod.Labels, val)
	}
}

func waitUntil(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if last == nil {
				last = fmt.Errorf("not within %s", timeout)
			}
			return last
		}
		time.Sleep(250 * time.Millisecond)
	}
}
