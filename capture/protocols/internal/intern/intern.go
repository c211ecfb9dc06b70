// Package intern keeps strings that parsers made recently, so that a value repeated from
// event to event (a request target, a Host, a DNS name, a user agent) is allocated once and
// shared by the events that carry it. Strings are immutable, so sharing one between events is
// within the protocols.Sink contract; a lookup compares every byte, so a cached string is only
// ever returned for exactly the same bytes.
//
// Neither type is safe for concurrent use: a parser owns its caches, as it owns its buffers.
package intern

import (
	"sync"
	"unsafe"
)

// ringSize is how many strings a Ring keeps: enough for the few targets or hosts a keep-alive
// connection cycles through, few enough that a miss (eight length checks) costs little.
const ringSize = 4

// ringMaxLen is the longest string a Ring keeps.
const ringMaxLen = 128

// MaxLen is the longest string a Table keeps: a longer one is made afresh each time, so that a
// cache never holds a large body of text alive.
const MaxLen = 256

// Ring remembers the last ringSize strings it made, replacing the oldest: at most 512 bytes of
// strings per Ring, which a parser keeps for the life of its connection. The zero value is
// ready to use.
type Ring struct {
	s    [ringSize]string
	next uint8
}

// Bytes returns b as a string, the cached one when an earlier call made it.
func (r *Ring) Bytes(b []byte) string {
	for _, s := range &r.s {
		if s == string(b) {
			return s
		}
	}
	s := string(b)
	if len(s) <= ringMaxLen {
		r.s[r.next] = s
		r.next = (r.next + 1) % ringSize
	}
	return s
}

// Table remembers up to a fixed number of strings by content, and forgets them all when it is
// full: a working set that fits stays cached, and a stream of distinct values (random names)
// costs one map insertion each and never more memory than the bound.
type Table struct {
	m   map[string]string
	max int
}

// NewTable returns a Table that keeps at most max strings.
func NewTable(max int) *Table {
	return &Table{m: make(map[string]string), max: max}
}

// Bytes returns b as a string, the cached one when an earlier call made it. A nil Table
// caches nothing.
func (t *Table) Bytes(b []byte) string {
	if t == nil {
		return string(b)
	}
	if s, ok := t.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(s) <= MaxLen {
		if len(t.m) >= t.max {
			clear(t.m)
		}
		t.m[s] = s
	}
	return s
}

// Len is how many strings t holds.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.m)
}

// Bounds of an Arena: chunks grow from minChunk to maxChunk bytes, and a string longer than
// maxArenaString gets its own allocation. A string that a parser keeps for long (the previous
// reply, to compare the next one with) keeps its chunk alive: at most maxChunk bytes.
const (
	minChunk       = 64
	maxChunk       = 256
	maxArenaString = 128
)

// Arena makes strings that do not repeat (a Redis counter's replies, statements with their
// literals) by copying them into chunks of bytes allocated several strings at a time: one
// allocation, which the garbage collector need not scan, for many strings. Bytes once written
// are never written again, so the strings may go into events (protocols.Sink); a chunk lives
// as long as any string in it, and the Arena keeps its last chunk (at most maxChunk bytes)
// for the strings to come. The zero Arena is ready to use; it is not safe for concurrent use.
type Arena struct {
	buf []byte
}

// String returns a string with the bytes of b.
func (a *Arena) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxArenaString {
		return string(b)
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, min(max(2*cap(a.buf), minChunk, len(b)), maxChunk))
	}
	n := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[n], len(b))
}

// ArenaPool is an Arena shared by every parser of a kind, in every pipeline, for the reason
// slab.Pool gives: an Arena per connection keeps a chunk per connection. An Arena is taken from
// a sync.Pool for the call only, so an ArenaPool is safe for concurrent use. The zero
// ArenaPool is ready to use.
type ArenaPool struct {
	p sync.Pool
}

// String returns a string with the bytes of b.
func (ap *ArenaPool) String(b []byte) string {
	a, _ := ap.p.Get().(*Arena)
	if a == nil {
		a = new(Arena)
	}
	s := a.String(b)
	ap.p.Put(a)
	return s
}
