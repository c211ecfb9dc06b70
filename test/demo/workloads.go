package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/audit-io/wire-audit/test/cluster"
	"github.com/audit-io/wire-audit/test/nodeapp"
	"github.com/audit-io/wire-audit/webhook"
)

// namespace is where the demo's workloads go, labelled for the Pod Security "privileged"
// level: the sidecar adds NET_RAW and NET_ADMIN, which "baseline" forbids.
const namespace = "shop"

// The audited workloads: a Deployment whose app makes rounds until it is stopped, and a Job
// whose app makes the rounds that fit in the demo's duration, then exits.
const (
	deployment  = "checkout"
	job         = "nightly-report"
	appInterval = time.Second
)

// otherPods shows, briefly, the two other things the webhook does: deny a pod whose
// annotations are wrong, and admit a hostNetwork pod without a sidecar, with a warning (a
// dry run: the kubelet does not run it).
func (d *demo) otherPods() {
	t := d.t
	ctx := t.Context()
	if err := d.stack.Namespace(ctx, namespace); err != nil {
		t.Fatalf("namespace %s: %v", namespace, err)
	}
	warnings := &cluster.WarningLog{}
	cfg := rest.CopyConfig(d.stack.Node.Config)
	cfg.WarningHandler = warnings
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("%v", err)
	}
	pods := cs.CoreV1().Pods(namespace)
	d.step("namespace %s (Pod Security level privileged); first, a pod with %s: \"mysql:abc\" and %s: \"sometimes\"", namespace, webhook.AnnotationPorts, webhook.AnnotationFlows)
	bad := pausePod(map[string]string{webhook.AnnotationCapture: "true", webhook.AnnotationPorts: "mysql:abc", webhook.AnnotationFlows: "sometimes"})
	if _, err := pods.Create(ctx, bad, metav1.CreateOptions{}); err == nil {
		t.Fatalf("a pod with invalid annotations was admitted")
	} else {
		d.printf("    denied, as it should be:\n%s", indent([]byte(err.Error()+"\n")))
	}
	d.step("an annotated hostNetwork pod (a dry run)")
	host := pausePod(map[string]string{webhook.AnnotationCapture: "true"})
	host.Spec.HostNetwork = true
	if _, err := pods.Create(ctx, host, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("create hostNetwork pod: %v", err)
	}
	for _, w := range warnings.Since(0) {
		d.printf("    admitted without a sidecar; warning: %s\n", w)
	}
}

func pausePod(annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "checkout-", Namespace: namespace, Annotations: annotations},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: nodeapp.AppImage, ImagePullPolicy: corev1.PullNever}}},
	}
}

// workloads are the audited Deployment and Job, their pods, and what their sidecars logged.
type workloads struct {
	created time.Time // when the Deployment was created
	depPod  *corev1.Pod
	jobPod  *corev1.Pod
	// ready is when the Deployment's pod was Running with its sidecar started.
	ready   time.Time
	emitted *emittedCounter
	// jobDone is how the Job ended, for the summary.
	jobDone string
}

// createWorkloads creates the annotated Deployment and Job.
func (d *demo) createWorkloads() *workloads {
	t := d.t
	ctx := t.Context()
	cs := d.stack.Node.Clients
	annotations := map[string]string{webhook.AnnotationCapture: "true"}
	rounds := max(1, int(d.opts.Duration/appInterval))
	d.step("creating Deployment %s (its app makes a round every %s until stopped) and Job %s (%d rounds, then it exits), their pod templates annotated %s: \"true\"",
		deployment, appInterval, job, rounds, webhook.AnnotationCapture)
	w := &workloads{created: time.Now(), emitted: &emittedCounter{pods: map[string]*podEmitted{}}}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deployment, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": deployment}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": deployment, "tier": "backend"}, Annotations: annotations},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					nodeapp.AppContainer(nodeapp.AppOptions{Rounds: 0, Interval: appInterval})}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: job, Namespace: namespace},
		Spec: batchv1.JobSpec{
			BackoffLimit: new(int32(0)),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": job}, Annotations: annotations},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{
					nodeapp.AppContainer(nodeapp.AppOptions{Rounds: rounds, Interval: appInterval, Exit: true})}},
			},
		},
	}
	if _, err := cs.BatchV1().Jobs(namespace).Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create job: %v", err)
	}
	return w
}

// waitRunning waits for both pods to run with their sidecars started, prints the sidecar the
// webhook injected, and starts following each sidecar's log.
func (w *workloads) waitRunning(d *demo) {
	t := d.t
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var err error
	if w.depPod, err = d.sidecarStarted(ctx, "app="+deployment); err != nil {
		t.Fatalf("deployment %s: %v\n%s", deployment, err, d.stack.Describe(ctx, namespace))
	}
	w.ready = time.Now()
	sc := w.depPod.Spec.InitContainers[0]
	d.printf("    pod %s/%s (uid %s) on node %s: the kubelet started the sidecar %s, its startup probe passed, then the app; %s after the Deployment was created\n",
		namespace, w.depPod.Name, w.depPod.UID, w.depPod.Spec.NodeName, sc.Name, w.ready.Sub(w.created).Round(time.Millisecond))
	out, err := yaml.Marshal(sc)
	if err != nil {
		t.Fatalf("%v", err)
	}
	d.printf("    the sidecar the webhook injected (a native sidecar: an init container with restartPolicy Always):\n%s", indent(out))
	d.printf("    its rendered config (%s, mounted through the downward API):\n%s", webhook.AnnotationRenderedConfig,
		indent([]byte(w.depPod.Annotations[webhook.AnnotationRenderedConfig]+"\n")))
	w.emitted.follow(d, w.depPod)
	if w.jobPod, err = d.sidecarStarted(ctx, "batch.kubernetes.io/job-name="+job); err != nil {
		t.Fatalf("job %s: %v\n%s", job, err, d.stack.Describe(ctx, namespace))
	}
	d.printf("    pod %s/%s of Job %s: sidecar started\n", namespace, w.jobPod.Name, job)
	w.emitted.follow(d, w.jobPod)
}

// sidecarStarted waits for the one pod selected to have its sidecar started (or, for a Job
// that already finished, terminated).
func (d *demo) sidecarStarted(ctx context.Context, selector string) (*corev1.Pod, error) {
	for {
		l, err := d.stack.Node.Clients.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil && len(l.Items) == 1 && len(l.Items[0].Spec.InitContainers) > 0 {
			p := &l.Items[0]
			for _, st := range p.Status.InitContainerStatuses {
				if st.Name == p.Spec.InitContainers[0].Name && (st.Started != nil && *st.Started || st.State.Terminated != nil) {
					return p, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no pod %s with its sidecar started: %w", selector, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// stop scales the Deployment to 0, so that the kubelet stops its pod as it would on any
// rollout (SIGTERM to the app, then to the sidecar, which flushes to Kafka), and waits for the
// Job to complete through the Job controller and for both sidecars to exit. When the demo was
// interrupted the Job is deleted instead, so that its pod is stopped the same way.
func (w *workloads) stop(d *demo, interrupted bool) {
	t := d.t
	// Not t.Context(): an interrupted demo still stops the pods gracefully, so events flush.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*time.Minute)
	defer cancel()
	cs := d.stack.Node.Clients
	then := "waiting for Job " + job + " to complete"
	if interrupted {
		then = "deleting Job " + job + ", whose pod is stopped the same way"
	}
	d.step("scaling Deployment %s to 0 (the kubelet sends SIGTERM to the app, then to the sidecar, which flushes to Kafka) and %s", deployment, then)
	begin := time.Now()
	if _, err := cs.AppsV1().Deployments(namespace).Patch(ctx, deployment, types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale deployment: %v", err)
	}
	if interrupted {
		if err := cs.BatchV1().Jobs(namespace).Delete(ctx, job, metav1.DeleteOptions{PropagationPolicy: new(metav1.DeletePropagationBackground)}); err != nil {
			t.Fatalf("delete job: %v", err)
		}
		w.jobDone = "deleted (the demo was interrupted)"
	}
	for w.jobDone == "" {
		j, err := cs.BatchV1().Jobs(namespace).Get(ctx, job, metav1.GetOptions{})
		if err == nil {
			w.jobDone = jobCondition(j)
		}
		if w.jobDone != "" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("job %s did not finish: %v\n%s", job, ctx.Err(), d.stack.Describe(ctx, namespace))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !w.emitted.wait(ctx) {
		t.Fatalf("the sidecars' logs did not end (their containers did not exit)\n%s", d.stack.Describe(ctx, namespace))
	}
	d.printf("    Job %s: %s; the Deployment's pod stopped; both sidecars exited (%s)\n", job, w.jobDone, time.Since(begin).Round(time.Millisecond))
}

// jobCondition says how the Job ended, or "" while it runs.
func jobCondition(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return fmt.Sprintf("Complete (%d pod succeeded)", j.Status.Succeeded)
		case batchv1.JobFailed:
			return "Failed: " + c.Message
		}
	}
	return ""
}

// emittedCounter sums the events (flow records included) of the sidecars' "capture stopped"
// log lines, one per interface, read through the kubelet.
type emittedCounter struct {
	mu   sync.Mutex
	pods map[string]*podEmitted
	wg   sync.WaitGroup
}

type podEmitted struct {
	events     uint64
	interfaces int
}

// follow reads pod's sidecar log through the kubelet until the container exits.
func (e *emittedCounter) follow(d *demo, pod *corev1.Pod) {
	e.mu.Lock()
	pe := &podEmitted{}
	e.pods[pod.Name] = pe
	e.mu.Unlock()
	// Not cancelled by Ctrl-C: the sidecars still stop gracefully then, and say what they sent.
	ctx := context.WithoutCancel(d.t.Context())
	rc, err := d.stack.Node.Clients.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: pod.Spec.InitContainers[0].Name, Follow: true}).Stream(ctx)
	if err != nil {
		d.t.Fatalf("sidecar log of %s: %v", pod.Name, err)
	}
	e.wg.Go(func() {
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l struct {
				Msg    string `json:"msg"`
				Events uint64 `json:"events"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil || l.Msg != "capture stopped" {
				continue
			}
			e.mu.Lock()
			pe.events += l.Events
			pe.interfaces++
			e.mu.Unlock()
		}
	})
}

// wait waits until every followed log ended; false when ctx ended first.
func (e *emittedCounter) wait(ctx context.Context) bool {
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// total is the sum over the pods, and whether every pod's sidecar reported.
func (e *emittedCounter) total() (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n uint64
	known := len(e.pods) > 0
	for _, p := range e.pods {
		n += p.events
		known = known && p.interfaces > 0
	}
	return n, known
}

func indent(b []byte) string {
	var sb strings.Builder
	for line := range strings.Lines(string(b)) {
		sb.WriteString("      ")
		sb.WriteString(line)
	}
	return sb.String()
}
