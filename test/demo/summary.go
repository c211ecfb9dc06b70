package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/export"
)

// tally counts the demo's events (those of its namespace) as they arrive from Kafka.
type tally struct {
	mu        sync.Mutex
	created   time.Time // when the Deployment was created
	namespace string
	byType    map[string]int
	byPod     map[string]int
	firstOf   map[string]time.Time // arrival of each pod's first event
	lost      uint64               // loss.total summed over loss reports
	first     time.Time            // arrival of the first event
	last      time.Time            // arrival of the latest event
	other     int                  // records of other namespaces, or not events
	// emitted is what the sidecars said, as they stopped, that they emitted; known is false
	// when one did not say.
	emitted      uint64
	emittedKnown bool
}

func newTally(created time.Time, namespace string) *tally {
	return &tally{created: created, namespace: namespace, byType: map[string]int{}, byPod: map[string]int{}, firstOf: map[string]time.Time{}}
}

// add counts one record that arrived at the given time and returns its compact line, or false
// when the record is not an event of a pod in the tally's namespace.
func (t *tally) add(raw []byte, at time.Time) (string, bool) {
	var ev event.Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.locked(func() { t.other++ })
		return "", false
	}
	// A loss report may come from an exporter that knows no pod; otherwise only the
	// namespace's events count.
	mine := ev.Kubernetes != nil && ev.Kubernetes.Namespace == t.namespace
	if !mine && (ev.Type != event.TypeLoss || ev.Kubernetes != nil) {
		t.locked(func() { t.other++ })
		return "", false
	}
	line, err := export.Compact(raw)
	if err != nil {
		line = fmt.Sprintf("(not an event: %v)", err)
	}
	t.locked(func() {
		t.byType[ev.Type]++
		if k := ev.Kubernetes; k != nil {
			t.byPod[k.Pod.Name]++
			if _, ok := t.firstOf[k.Pod.Name]; !ok {
				t.firstOf[k.Pod.Name] = at
			}
		}
		if ev.Loss != nil {
			t.lost += ev.Loss.Total
		}
		if t.first.IsZero() {
			t.first = at
		}
		t.last = at
	})
	return line, true
}

func (t *tally) locked(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f()
}

// lastArrival is when the latest event arrived, or since when none has.
func (t *tally) lastArrival(since time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last.After(since) {
		return t.last
	}
	return since
}

// arrived is the number of the pod's records that arrived, loss reports included.
func (t *tally) arrived() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n uint64
	for _, c := range t.byType {
		n += uint64(c)
	}
	return n
}

func (t *tally) setEmitted(n uint64, known bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.emitted, t.emittedKnown = n, known
}

// missing is how many events the sidecars emitted that did not arrive (loss reports are not
// emitted by the pipeline, so they do not count as arrivals).
func (t *tally) missing() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var arrived uint64
	for typ, c := range t.byType {
		if typ != event.TypeLoss {
			arrived += uint64(c)
		}
	}
	if !t.emittedKnown || arrived >= t.emitted {
		return 0
	}
	return t.emitted - arrived
}

// transactions counts the events that are transactions, not flow or loss reports.
func (t *tally) transactions() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for typ, c := range t.byType {
		if typ != event.TypeFlow && typ != event.TypeLoss {
			n += c
		}
	}
	return n
}

// Types returns the event types seen, sorted.
func (t *tally) Types() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Sorted(maps.Keys(t.byType))
}

// summary prints what arrived.
func (d *demo) summary(t *tally, w *workloads) {
	missing := t.missing()
	t.mu.Lock()
	defer t.mu.Unlock()
	d.step("summary: the events of namespace %s in Kafka topic %s", t.namespace, topic)
	total := 0
	for _, typ := range slices.Sorted(maps.Keys(t.byType)) {
		d.printf("    %-6s %5d\n", typ, t.byType[typ])
		total += t.byType[typ]
	}
	d.printf("    %-6s %5d\n", "total", total)
	for _, pod := range slices.Sorted(maps.Keys(t.byPod)) {
		d.printf("    pod %s: %d events\n", pod, t.byPod[pod])
	}
	if t.other > 0 {
		d.printf("    (%d records of other namespaces on the topic were left out)\n", t.other)
	}
	d.printf("    Job %s: %s\n", job, w.jobDone)
	if t.first.IsZero() {
		d.printf("    no event arrived\n")
		return
	}
	if first, ok := t.firstOf[w.depPod.Name]; ok {
		d.printf("    Deployment creation to its pod's first event in Kafka: %s (that pod's sidecar seen started to its first event: %s)\n",
			first.Sub(t.created).Round(time.Millisecond), first.Sub(w.ready).Round(time.Millisecond))
	}
	if t.emittedKnown {
		if missing == 0 {
			d.printf("    the sidecars emitted %d events (their logs as they stopped, read through the kubelet): all arrived in Kafka\n", t.emitted)
		} else {
			d.printf("    the sidecars emitted %d events (their logs as they stopped, read through the kubelet): %d did not arrive in Kafka\n", t.emitted, missing)
		}
	}
	if t.lost == 0 && t.byType[event.TypeLoss] == 0 && missing == 0 {
		d.printf("    loss: 0 (no loss report from the exporters)\n")
	} else {
		d.printf("    loss: %d events reported dropped, in %d loss reports (printed above); %d not arrived\n", t.lost, t.byType[event.TypeLoss], missing)
	}
}
