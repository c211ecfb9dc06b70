package webhook

import (
	"strings"
	"testing"
)

func TestParseAnnotations(t *testing.T) {
	cases := []struct {
		name    string
		ann     map[string]string
		wantErr []string // substrings, each must appear
		check   func(t *testing.T, o Overrides)
	}{
		{name: "empty", ann: map[string]string{}},
		{name: "capture true", ann: map[string]string{AnnotationCapture: "true"}, check: func(t *testing.T, o Overrides) {
			if !o.Capture || o.Protocols != nil || o.Ports != nil || o.Flows != nil {
				t.Errorf("overrides = %+v", o)
			}
		}},
		{name: "spaces and empty items are tolerated", ann: map[string]string{AnnotationProtocols: " mysql , ,redis ", AnnotationPorts: "mysql:3306, mysql:13306"},
			check: func(t *testing.T, o Overrides) {
				if strings.Join(o.Protocols, ",") != "mysql,redis" || len(o.Ports["mysql"]) != 2 {
					t.Errorf("overrides = %+v", o)
				}
			}},
		{name: "capture TRUE is not true", ann: map[string]string{AnnotationCapture: "TRUE"}, wantErr: []string{`"audit.io/capture"`, `"TRUE"`, `"true" and "false"`}},
		{name: "empty protocols", ann: map[string]string{AnnotationProtocols: " , "}, wantErr: []string{"at least one protocol"}},
		{name: "duplicate protocol", ann: map[string]string{AnnotationProtocols: "mysql,mysql"}, wantErr: []string{"listed twice"}},
		{name: "port zero", ann: map[string]string{AnnotationPorts: "http:0"}, wantErr: []string{`port "0"`, "1-65535"}},
		{name: "port too big", ann: map[string]string{AnnotationPorts: "http:65536"}, wantErr: []string{`port "65536"`}},
		{name: "port without protocol", ann: map[string]string{AnnotationPorts: "3306"}, wantErr: []string{`"3306" has no port`}},
		{name: "unknown protocol in ports", ann: map[string]string{AnnotationPorts: "oracle:27017"}, wantErr: []string{`unknown protocol "oracle"`}},
		{name: "duplicate port", ann: map[string]string{AnnotationPorts: "http:80,http:80"}, wantErr: []string{`"http:80" listed twice`}},
		{name: "interface with colon", ann: map[string]string{AnnotationInterfaces: "eth0:1"}, wantErr: []string{`interface "eth0:1"`}},
		{name: "duplicate interface", ann: map[string]string{AnnotationInterfaces: "eth0,eth0"}, wantErr: []string{"listed twice"}},
		{name: "topic too long", ann: map[string]string{AnnotationKafkaTopic: strings.Repeat("a", 250)}, wantErr: []string{"at most 249"}},
		{name: "zero cpu", ann: map[string]string{AnnotationCPULimit: "0"}, wantErr: []string{`"audit.io/sidecar-cpu-limit"`, "greater than zero"}},
		{name: "all problems at once, in table order", ann: map[string]string{
			AnnotationMemoryRequest: "x", AnnotationCapture: "maybe", "audit.io/zzz": "1", "audit.io/aaa": "2",
		}, wantErr: []string{`"audit.io/capture"`, `"audit.io/sidecar-memory-request"`, `"audit.io/aaa"`, `"audit.io/zzz"`}},
		{name: "other prefixes are not ours", ann: map[string]string{"sidecar.istio.io/inject": "true", "example.com/audit.io": "x"}},
		{name: "webhook-owned keys are not input", ann: map[string]string{AnnotationStatus: "{}", AnnotationRenderedConfig: "{}"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseAnnotations(tc.ann)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tc.check != nil {
					tc.check(t, o)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one containing %q", tc.wantErr)
			}
			msg := err.Error()
			last := -1
			for _, want := range tc.wantErr {
				i := strings.Index(msg, want)
				if i < 0 {
					t.Errorf("error %q does not contain %q", msg, want)
				} else if i < last && len(tc.wantErr) > 3 {
					t.Errorf("%q is out of order in %q", want, msg)
				}
				last = i
			}
		})
	}
}

// FuzzParseAnnotations: any annotation values give either overrides or errors that each name a
// key, and never a panic.
func FuzzParseAnnotations(f *testing.F) {
	for _, seed := range []string{"true", "mysql,pgsql", "mysql:3306,http:8080", "eth0,net1", "100m", "64Mi", "", ",,", "mysql:", ":1", "audit-events"} {
		f.Add(seed, seed, seed, seed)
	}
	f.Fuzz(func(t *testing.T, protocols, ports, ifaces, quantity string) {
		ann := map[string]string{
			AnnotationCapture: "true", AnnotationProtocols: protocols, AnnotationPorts: ports,
			AnnotationInterfaces: ifaces, AnnotationKafkaTopic: ifaces, AnnotationCPURequest: quantity,
			AnnotationMemoryLimit: quantity, AnnotationFlows: protocols,
		}
		_, err := ParseAnnotations(ann)
		for _, key := range deniedKeys(err) {
			if _, ok := ann[key]; !ok {
				t.Fatalf("error names key %q that was not given", key)
			}
		}
		if err != nil && len(deniedKeys(err)) == 0 {
			t.Fatalf("error names no key: %v", err)
		}
		// The full path must not panic either, and its result must be consistent.
		injector, ierr := NewInjector(InjectorOptions{Defaults: DefaultDefaults(), Mode: ModeNative})
		if ierr != nil {
			t.Fatal(ierr)
		}
		pod := plainPodWith(t, ann)
		res := injector.Mutate(pod, "shop")
		if (res.Outcome == OutcomeDenied) != (res.Err != nil && res.Outcome != OutcomeErrored) {
			t.Fatalf("outcome %s with err %v", res.Outcome, res.Err)
		}
		if res.Outcome == OutcomeErrored {
			t.Fatalf("valid annotations rendered an invalid config: %v", res.Err)
		}
	})
}
