package certs

import (
	"errors"
	"fmt"
	"time"
)

// step is one change to the Secret. The rotator makes at most one per pass and lets the watch
// bring it back, so that every write is checked against the resourceVersion it was based on.
type step int

const (
	stepNone        step = iota
	stepCreate           // a new CA and serving certificate: no Secret, or no usable CA
	stepServing          // a new serving certificate from the current CA
	stepStageCA          // a new CA, published beside the current one, not yet signing
	stepSwitchCA         // the new CA signs; the old one stays trusted for Overlap
	stepRetireCA         // the old CA leaves caBundle
	stepDropNext         // the staged CA is broken; forget it
	stepClearRotate      // the rotate annotation has a value we do not know
)

// Reasons, the metric label and log value that say why a certificate was made.
const (
	reasonInitial  = "initial"
	reasonInvalid  = "invalid"
	reasonExpiring = "expiring"
	reasonForced   = "forced"
	reasonSwitch   = "ca-switch"
)

// plan is what the rotator does next, and when it must look again if nothing happens before.
type plan struct {
	step   step
	reason string
	// problem is what was wrong, for the log line; nil when nothing was.
	problem error
	// recheck is when to look again, for renewals and overlaps that nothing else wakes.
	recheck time.Duration
}

// published is what the webhook configuration's caBundle holds, read live from the API server.
type published struct {
	// current: every webhook's caBundle equals the Secret's bundle, at the Secret's generation.
	current bool
	// at is when that bundle was written.
	at time.Time
}

// maxRecheck bounds the sleep so that a clock jump or a missed event heals within the hour.
const maxRecheck = time.Hour

// decide picks the next step for material m with problems p at now. pub matters only while a
// new CA waits to sign.
func decide(m material, p problems, pub published, now time.Time, o *Options) plan {
	switch {
	case errors.Is(p.ca, errMissing):
		return plan{step: stepCreate, reason: reasonInitial}
	case p.ca != nil:
		return plan{step: stepCreate, reason: reasonInvalid, problem: fmt.Errorf("ca.crt/ca.key: %w", p.ca)}
	case p.next != nil && !errors.Is(p.next, errMissing):
		return plan{step: stepDropNext, reason: reasonInvalid, problem: fmt.Errorf("ca-next.crt/ca-next.key: %w", p.next)}
	case p.previous != nil && !errors.Is(p.previous, errMissing):
		// An expired or broken old CA protects nobody; stop publishing it.
		return plan{step: stepRetireCA, reason: reasonInvalid, problem: fmt.Errorf("ca-previous.crt: %w", p.previous)}
	case errors.Is(p.serving, errMissing):
		return plan{step: stepServing, reason: reasonInitial}
	case p.serving != nil:
		return plan{step: stepServing, reason: reasonInvalid, problem: fmt.Errorf("tls.crt/tls.key: %w", p.serving)}
	}
	switch m.rotate {
	case "":
	case RotateServing:
		return plan{step: stepServing, reason: reasonForced}
	case RotateCA:
		if m.next == nil && m.previous == nil {
			return plan{step: stepStageCA, reason: reasonForced}
		}
		// A rotation is under way; the request stays and starts another one after it.
	default:
		return plan{step: stepClearRotate, problem: fmt.Errorf("annotation %s: unknown value %q, want %q or %q", AnnotationRotate, m.rotate, RotateServing, RotateCA)}
	}
	recheck := maxRecheck
	soon := func(d time.Duration) { recheck = min(recheck, max(d, time.Second)) }
	if m.next != nil {
		if pub.current && !now.Before(pub.at.Add(o.Overlap)) {
			return plan{step: stepSwitchCA, reason: reasonSwitch}
		}
		if pub.current {
			soon(pub.at.Add(o.Overlap).Sub(now))
		} else {
			// Not yet published: the configuration's watch wakes us when it is.
			soon(o.Overlap)
		}
	}
	if m.previous != nil {
		until := m.previousSince.Add(o.Overlap)
		if !now.Before(until) {
			return plan{step: stepRetireCA, reason: reasonSwitch}
		}
		soon(until.Sub(now))
	}
	renewAt := m.serving.cert.NotAfter.Add(-o.Lookahead)
	if !now.Before(renewAt) && servingWouldLast(m, now, o).After(m.serving.cert.NotAfter.Add(time.Minute)) {
		return plan{step: stepServing, reason: reasonExpiring}
	}
	soon(renewAt.Sub(now))
	if m.next == nil && m.previous == nil {
		rotateAt := m.ca.cert.NotAfter.Add(-o.caLookahead())
		if !now.Before(rotateAt) {
			return plan{step: stepStageCA, reason: reasonExpiring}
		}
		soon(rotateAt.Sub(now))
	}
	return plan{step: stepNone, recheck: recheck}
}

// servingWouldLast is when a serving certificate issued now would expire. Renewing is
// pointless when the CA cuts it short anyway; the CA rotation fixes that instead.
func servingWouldLast(m material, now time.Time, o *Options) time.Time {
	if t := now.Add(o.ServingValidity); t.Before(m.ca.cert.NotAfter) {
		return t
	}
	return m.ca.cert.NotAfter
}

// apply carries out pl on m and returns the new material. mwcGeneration is the generation the
// webhook configuration holds, so that a recreated Secret still counts upwards from it.
func apply(pl plan, m material, mwcGeneration int64, now time.Time, o *Options) (material, error) {
	var err error
	bump := func() { m.generation = max(m.generation, mwcGeneration) + 1 }
	switch pl.step {
	case stepCreate:
		if m.ca, err = newCA(now, o.CAValidity); err != nil {
			return m, err
		}
		m.next, m.previous, m.previousPEM = nil, nil, nil
		if m.serving, err = newServing(m.ca, o.hosts(), now, o.ServingValidity); err != nil {
			return m, err
		}
		bump()
	case stepServing:
		if m.serving, err = newServing(m.ca, o.hosts(), now, o.ServingValidity); err != nil {
			return m, err
		}
		if m.rotate == RotateServing {
			m.rotate = ""
		}
	case stepStageCA:
		if m.next, err = newCA(now, o.CAValidity); err != nil {
			return m, err
		}
		if m.rotate == RotateCA {
			m.rotate = ""
		}
		bump()
	case stepSwitchCA:
		if m.serving, err = newServing(m.next, o.hosts(), now, o.ServingValidity); err != nil {
			return m, err
		}
		m.previous, m.previousPEM, m.previousSince = m.ca.cert, m.ca.certPEM, now
		m.ca, m.next = m.next, nil
	case stepRetireCA:
		m.previous, m.previousPEM = nil, nil
		bump()
	case stepDropNext:
		m.next = nil
		bump()
	case stepClearRotate:
		m.rotate = ""
	default:
		return m, fmt.Errorf("apply step %d: nothing to do", pl.step)
	}
	return m, nil
}
