package mysql

import (
	"hash/maphash"
	"sync"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// Bounds of the cache of recent COM_QUERY texts: slots, direct-mapped by hash, and the longest
// text kept, so that a cache holds at most 64 KiB of text.
const (
	querySlots     = 64
	maxCachedQuery = 1 << 10
)

// queries holds queryCaches, one per P in use: a cache is taken for the call only, so that every
// connection of every pipeline shares what is cached without a lock, and the memory stays
// bounded per P whatever the number of connections.
var queries sync.Pool

// queryCache remembers what the privacy options made of recent COM_QUERY texts: clients send
// the same statements again and again, and working out each one's fingerprint was most of
// the cost of a MySQL event. A slot matches only the same bytes under the same options.
type queryCache struct {
	seed  maphash.Seed
	slots [querySlots]querySlot
}

type querySlot struct {
	text   string
	cut    bool
	mask   bool
	maxLen int
	s      *stmt
}

// queryStmt returns the statement of the COM_QUERY text q (cut at the message limit when cut
// says so) under opts, as newStmt makes it; it is shared and must not be modified.
func queryStmt(q []byte, cut bool, opts *protocols.Options) *stmt {
	if len(q) > maxCachedQuery {
		return newStmt(string(q), cut, opts)
	}
	c, _ := queries.Get().(*queryCache)
	if c == nil {
		c = &queryCache{seed: maphash.MakeSeed()}
	}
	mask, maxLen := opts != nil && opts.MaskLiterals, 0
	if opts != nil {
		maxLen = opts.MaxQueryLength
	}
	sl := &c.slots[maphash.Bytes(c.seed, q)%querySlots]
	if sl.s == nil || sl.cut != cut || sl.mask != mask || sl.maxLen != maxLen || sl.text != string(q) {
		text := string(q)
		*sl = querySlot{text: text, cut: cut, mask: mask, maxLen: maxLen, s: newStmt(text, cut, opts)}
	}
	s := sl.s
	queries.Put(c)
	return s
}

// newStmt applies opts to the statement text q, as protocols.SetQuery does for an event; cut
// says q was cut at the message limit.
func newStmt(q string, cut bool, opts *protocols.Options) *stmt {
	var ev event.Event
	protocols.SetQuery(&ev, q, opts)
	return &stmt{query: ev.Query, fingerprint: ev.QueryFingerprint, method: ev.Method,
		truncated: ev.QueryTruncated || cut}
}
