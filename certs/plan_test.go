package certs

import (
	"bytes"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func testOptions(t *testing.T) *Options {
	t.Helper()
	o := &Options{Namespace: "ns", SecretName: "cert", WebhookConfigName: "mwc", ServiceName: "svc", ExtraHosts: []string{"127.0.0.1"}}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	return o
}

// issued returns a healthy Secret created at at, as the rotator writes it.
func issued(t *testing.T, o *Options, at time.Time) *corev1.Secret {
	t.Helper()
	m, err := apply(plan{step: stepCreate}, material{}, 0, at, o)
	if err != nil {
		t.Fatal(err)
	}
	return m.write(nil, o.Namespace, o.SecretName)
}

func TestOptionsRequired(t *testing.T) {
	err := (&Options{}).setDefaults()
	for _, want := range []string{"Namespace", "SecretName", "WebhookConfigName", "ServiceName"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	bad := &Options{Namespace: "n", SecretName: "s", WebhookConfigName: "w", ServiceName: "v", ServingValidity: time.Hour, Lookahead: 2 * time.Hour}
	if err := bad.setDefaults(); err == nil {
		t.Error("lookahead longer than validity accepted")
	}
}

// TestParseSecret covers each kind of bad Secret: the problem must name what is wrong.
func TestParseSecret(t *testing.T) {
	o := testOptions(t)
	good := issued(t, o, t0)
	other := issued(t, o, t0)
	otherHosts := *o
	otherHosts.ServiceName = "elsewhere"
	wrongHosts := issued(t, &otherHosts, t0)
	cases := []struct {
		name        string
		edit        func(d map[string][]byte)
		at          time.Time
		wantCA      string // substring of the CA problem, "" for none
		wantServing string
	}{
		{name: "healthy", edit: func(map[string][]byte) {}, at: t0.Add(time.Hour)},
		{name: "empty", edit: func(d map[string][]byte) { clear(d) }, at: t0, wantCA: "missing", wantServing: "missing"},
		{name: "garbage ca", edit: func(d map[string][]byte) { d[KeyCACert] = []byte("not pem") }, at: t0, wantCA: "unusable"},
		{name: "ca key of another ca", edit: func(d map[string][]byte) { d[KeyCAKey] = other.Data[KeyCAKey] }, at: t0, wantCA: "does not match"},
		{name: "garbage serving", edit: func(d map[string][]byte) {
			d[KeyServingCert] = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
		}, at: t0, wantServing: "unusable"},
		{name: "serving key mismatch", edit: func(d map[string][]byte) { d[KeyServingKey] = other.Data[KeyServingKey] }, at: t0, wantServing: "does not match"},
		{name: "serving from another ca", edit: func(d map[string][]byte) {
			d[KeyServingCert], d[KeyServingKey] = other.Data[KeyServingCert], other.Data[KeyServingKey]
		}, at: t0, wantServing: "not signed by ca.crt"},
		{name: "serving for other hosts", edit: func(d map[string][]byte) {
			d[KeyCACert], d[KeyCAKey] = wrongHosts.Data[KeyCACert], wrongHosts.Data[KeyCAKey]
			d[KeyServingCert], d[KeyServingKey] = wrongHosts.Data[KeyServingCert], wrongHosts.Data[KeyServingKey]
		}, at: t0, wantServing: `does not cover host "svc.ns.svc"`},
		{name: "serving expired", edit: func(map[string][]byte) {}, at: t0.Add(o.ServingValidity + time.Minute), wantServing: "expired"},
		{name: "ca expired", edit: func(map[string][]byte) {}, at: t0.Add(o.CAValidity + time.Minute), wantCA: "expired", wantServing: "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good.DeepCopy()
			tc.edit(s.Data)
			_, p := parseSecret(s, o.hosts(), tc.at)
			check := func(what string, err error, want string) {
				switch {
				case want == "" && err != nil:
					t.Errorf("%s problem %v, want none", what, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("%s problem %v, want one containing %q", what, err, want)
				}
			}
			check("ca", p.ca, tc.wantCA)
			if tc.wantCA == "" || tc.wantServing != "" {
				check("serving", p.serving, tc.wantServing)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	o := testOptions(t)
	good := issued(t, o, t0)
	staged := func() material {
		m, _ := parseSecret(good, o.hosts(), t0)
		m, err := apply(plan{step: stepStageCA}, m, 0, t0, o)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := []struct {
		name       string
		secret     *corev1.Secret
		m          *material // instead of secret
		pub        published
		at         time.Time
		want       step
		wantReason string
	}{
		{name: "no secret", at: t0, want: stepCreate, wantReason: reasonInitial},
		{name: "healthy", secret: good, at: t0.Add(time.Hour), want: stepNone},
		{name: "serving inside lookahead", secret: good, at: t0.Add(o.ServingValidity - o.Lookahead + time.Second), want: stepServing, wantReason: reasonExpiring},
		{name: "serving expired", secret: good, at: t0.Add(o.ServingValidity + time.Second), want: stepServing, wantReason: reasonInvalid},
		{name: "ca expired", secret: good, at: t0.Add(o.CAValidity + time.Second), want: stepCreate, wantReason: reasonInvalid},
		{name: "forced serving", secret: annotated(good, RotateServing), at: t0, want: stepServing, wantReason: reasonForced},
		{name: "forced ca", secret: annotated(good, RotateCA), at: t0, want: stepStageCA, wantReason: reasonForced},
		{name: "unknown rotate value", secret: annotated(good, "everything"), at: t0, want: stepClearRotate},
		{name: "staged, not published", m: ptr(staged()), at: t0.Add(time.Hour), want: stepNone},
		{name: "staged, published just now", m: ptr(staged()), pub: published{current: true, at: t0}, at: t0.Add(o.Overlap / 2), want: stepNone},
		{name: "staged, published an overlap ago", m: ptr(staged()), pub: published{current: true, at: t0}, at: t0.Add(o.Overlap), want: stepSwitchCA, wantReason: reasonSwitch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var m material
			var p problems
			if tc.m != nil {
				m = *tc.m
			} else {
				m, p = parseSecret(tc.secret, o.hosts(), tc.at)
			}
			got := decide(m, p, tc.pub, tc.at, o)
			if got.step != tc.want || got.reason != tc.wantReason {
				t.Errorf("decide = %s/%q (problem %v), want %s/%q", stepNames[got.step], got.reason, got.problem, stepNames[tc.want], tc.wantReason)
			}
			if got.step == stepNone && (got.recheck <= 0 || got.recheck > maxRecheck) {
				t.Errorf("recheck = %s", got.recheck)
			}
		})
	}
}

func annotated(s *corev1.Secret, rotate string) *corev1.Secret {
	s = s.DeepCopy()
	s.Annotations[AnnotationRotate] = rotate
	return s
}

// TestCARotationSequence walks a CA rotation through the Secret: the bundle gains the new CA
// before it signs, keeps the same bytes across the switch, and loses the old CA only after.
func TestCARotationSequence(t *testing.T) {
	o := testOptions(t)
	s := annotated(issued(t, o, t0), RotateCA)
	now := t0
	stepTo := func(want step, pub published) material {
		t.Helper()
		m, p := parseSecret(s, o.hosts(), now)
		pl := decide(m, p, pub, now, o)
		if pl.step != want {
			t.Fatalf("at +%s: step %s, want %s", now.Sub(t0), stepNames[pl.step], stepNames[want])
		}
		next, err := apply(pl, m, 0, now, o)
		if err != nil {
			t.Fatal(err)
		}
		s = next.write(s, o.Namespace, o.SecretName)
		return next
	}
	before, _ := parseSecret(s, o.hosts(), now)
	staged := stepTo(stepStageCA, published{})
	if _, pending := s.Annotations[AnnotationRotate]; pending {
		t.Error("rotate annotation kept after staging")
	}
	if staged.generation != before.generation+1 || countCerts(staged.bundle()) != 2 {
		t.Fatalf("staged: generation %d, %d CAs in bundle", staged.generation, countCerts(staged.bundle()))
	}
	if serial(staged.serving) != serial(before.serving) {
		t.Error("serving certificate changed while the new CA was only staged")
	}
	now = now.Add(o.Overlap)
	switched := stepTo(stepSwitchCA, published{current: true, at: t0})
	if !bytes.Equal(switched.bundle(), staged.bundle()) || switched.generation != staged.generation {
		t.Error("the switch changed the bundle; the API server would see a new caBundle at the moment serving changes")
	}
	if switched.serving.cert.Issuer.CommonName != staged.next.cert.Subject.CommonName {
		t.Errorf("serving issued by %q after the switch, want the new CA", switched.serving.cert.Issuer.CommonName)
	}
	now = now.Add(o.Overlap / 2)
	if m, p := parseSecret(s, o.hosts(), now); decide(m, p, published{}, now, o).step != stepNone {
		t.Error("old CA retired before the overlap ended")
	}
	now = now.Add(o.Overlap / 2)
	retired := stepTo(stepRetireCA, published{})
	if countCerts(retired.bundle()) != 1 || retired.generation != staged.generation+1 {
		t.Errorf("retired: %d CAs, generation %d", countCerts(retired.bundle()), retired.generation)
	}
	if _, ok := s.Data[KeyPreviousCACert]; ok {
		t.Error("ca-previous.crt kept")
	}
}

// TestGenerationCountsFromConfiguration: a Secret recreated from nothing must not start below the
// generation the webhook configuration already holds, or no replica would ever inject it.
func TestGenerationCountsFromConfiguration(t *testing.T) {
	o := testOptions(t)
	m, err := apply(plan{step: stepCreate}, material{}, 7, t0, o)
	if err != nil {
		t.Fatal(err)
	}
	if m.generation != 8 {
		t.Errorf("generation %d, want 8", m.generation)
	}
}

func TestServingNeverOutlivesCA(t *testing.T) {
	o := testOptions(t)
	ca, err := newCA(t0, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := newServing(ca, o.hosts(), t0, o.ServingValidity)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.cert.NotAfter.Equal(ca.cert.NotAfter) {
		t.Errorf("serving notAfter %s, CA notAfter %s", leaf.cert.NotAfter, ca.cert.NotAfter)
	}
	// Renewing would gain nothing, so decide starts the CA rotation instead of re-issuing
	// the serving certificate in a loop.
	m := material{ca: ca, serving: leaf}
	if pl := decide(m, problems{next: errMissing, previous: errMissing}, published{}, t0.Add(time.Hour), o); pl.step != stepStageCA || pl.reason != reasonExpiring {
		t.Errorf("decide = %s/%s, want the CA rotation to start", stepNames[pl.step], pl.reason)
	}
}

func TestParseKeyPairMissing(t *testing.T) {
	if _, err := parseKeyPair(nil, nil, t0); !errors.Is(err, errMissing) {
		t.Errorf("err = %v, want errMissing", err)
	}
}

func countCerts(b []byte) int {
	n := 0
	for block, rest := pem.Decode(b); block != nil; block, rest = pem.Decode(rest) {
		n++
	}
	return n
}
