// Package slab hands out values of one type from arrays allocated several at a time: the
// structs a parser allocates for every event (a transaction, an event's protocol fields) cost
// one allocation per chunk instead of one each, which is most of what the garbage collector
// had to do for them.
//
// A value is handed out once, and again only after it was given back with Free: a parser
// gives a value back through the event it belongs to (event.Part), once the exporter released
// that event, so that an event may point to it while anyone can read the event. A chunk lives
// as long as any of its values is reachable, so only values that die with their event belong
// here, not what a connection keeps for its life (a prepared statement): each would keep up to
// maxChunkBytes alive.
// Parsers share a Pool per type rather than keep a Slab per connection, which would hold the
// rest of a chunk for every quiet connection.
package slab

import (
	"sync"
	"unsafe"
)

// Bounds of a chunk: it starts at one value, for a Slab that is little used, and doubles up to
// maxChunk values or maxChunkBytes, whichever is less.
const (
	maxChunk      = 32
	maxChunkBytes = 2 << 10
)

// maxFree bounds the values a Slab keeps for reuse: more than the events an exporter holds at
// once on a replay (one), few enough that what they keep alive stays small.
const maxFree = 64

// Slab hands out zero values of T. The zero Slab is ready to use. It is not safe for
// concurrent use.
type Slab[T any] struct {
	free  []T
	n     int  // the size of the last chunk
	freed []*T // values given back, zeroed, handed out before free
}

// New returns a pointer to a zero T that no other call returned, or that was given back with
// Free since.
func (s *Slab[T]) New() *T {
	if n := len(s.freed); n > 0 {
		v := s.freed[n-1]
		s.freed = s.freed[:n-1]
		return v
	}
	if len(s.free) == 0 {
		var zero T
		limit := max(maxChunkBytes/max(int(unsafe.Sizeof(zero)), 1), 1)
		s.n = min(max(2*s.n, 1), maxChunk, limit)
		s.free = make([]T, s.n)
	}
	v := &s.free[0]
	s.free = s.free[1:]
	return v
}

// Free gives v back for New to hand out again: nothing may read or write v after the call.
// v need not come from s, nor from any Slab.
func (s *Slab[T]) Free(v *T) {
	var zero T
	*v = zero
	if len(s.freed) < maxFree {
		s.freed = append(s.freed, v)
	}
}

// Pool is a Slab shared by every parser of a type, in every pipeline: one parser per
// connection each with its own Slab would keep the rest of a chunk per connection, which is
// what 10k quiet connections cannot afford. A value's Slab is taken from a sync.Pool for the
// call only, so a Pool is safe for concurrent use, and what stays allocated and unused is a
// chunk per P. The zero Pool is ready to use.
type Pool[T any] struct {
	p sync.Pool
}

// New returns a pointer to a zero T that no other call returned.
func (p *Pool[T]) New() *T {
	s, _ := p.p.Get().(*Slab[T])
	if s == nil {
		s = new(Slab[T])
	}
	v := s.New()
	p.p.Put(s)
	return v
}

// Free gives v back for New to hand out again, as Slab.Free does.
func (p *Pool[T]) Free(v *T) {
	s, _ := p.p.Get().(*Slab[T])
	if s == nil {
		s = new(Slab[T])
	}
	s.Free(v)
	p.p.Put(s)
}
