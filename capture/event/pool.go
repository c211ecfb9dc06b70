package event

import "sync"

// pool holds events that an exporter is done with, for New to hand out again: an Event is
// about 700 bytes, and allocating (and collecting) one per transaction was the largest single
// cost of a replay (issue 14).
var pool = sync.Pool{New: func() any { return &Event{pooled: true} }}

// New returns a zero Event, recycled when one was released. Only events from New are
// recycled; Release ignores the others, so that a test's literal event stays as it was.
func New() *Event {
	return pool.Get().(*Event)
}

// Release gives ev back for New to reuse: the caller, and everyone it handed ev to, must be
// done with it and keep no pointer to it. The Event is reused, and so is the Part a parser
// gave it with Own; what else its pointer fields point to (a Kubernetes shared by every
// event, a parser's User or DB) is left alone. It is for the end of an event's life, an
// exporter that has encoded it (see protocols.Sink).
func Release(ev *Event) {
	if ev == nil || !ev.pooled {
		return
	}
	part := ev.part
	*ev = Event{} // one memclr; a literal with pooled set is built aside, then copied
	ev.pooled = true
	pool.Put(ev)
	if part != nil {
		part.Recycle()
	}
}

// Part is memory that a parser allocated for one event alone, such as its protocol fields
// and what they point to, which Release gives back for the parser to reuse: the struct of
// each event used to be the larger part of the job's allocations, and so of the collector's
// work. Recycle is called once, maybe from the exporter's goroutine, after nothing can read
// the event any more.
type Part interface {
	Recycle()
}

// Own makes p live and die with ev: Release(ev) recycles p. Once Own returned true the
// parser must not touch p (nor keep a pointer into it) after it emits ev, nor give p to
// another event. Own returns false, and p is never recycled, for an event that Release does
// not recycle (one New did not make).
func (ev *Event) Own(p Part) bool {
	if !ev.pooled {
		return false
	}
	ev.part = p
	return true
}

// NewRedis sets ev.Redis to a zero Redis and returns it. For an event from New the Redis is
// stored in ev itself, which saves an allocation per command; it lives and dies with ev, so
// it must not be kept, nor given to another event.
func (ev *Event) NewRedis() *Redis {
	if ev.pooled {
		ev.Redis = &ev.spare.redis
	} else {
		ev.Redis = &Redis{}
	}
	return ev.Redis
}
