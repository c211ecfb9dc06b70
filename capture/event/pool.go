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
// done with it and keep no pointer to it. Only the Event itself is reused: what its pointer
// fields point to (a Kubernetes shared by every event, a parser's User or DB) is left alone.
// It is for the end of an event's life, an exporter that has encoded it (see protocols.Sink).
func Release(ev *Event) {
	if ev == nil || !ev.pooled {
		return
	}
	*ev = Event{} // one memclr; a literal with pooled set is built aside, then copied
	ev.pooled = true
	pool.Put(ev)
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
