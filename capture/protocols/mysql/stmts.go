package mysql

import (
	"github.com/audit-io/wire-audit/capture/protocols"
)

// Bounds of the prepared statements remembered per connection. A client that prepares more
// without closing them (a leak, or a pool that never closes) loses the oldest-known ones to
// random eviction; their executes then carry the statement id without text.
const (
	maxStmts     = 256
	maxStmtBytes = 256 << 10
)

// stmt is a prepared statement as its executes report it: the text after the privacy options
// were applied, so that it is worked out once per prepare and not once per execute.
type stmt struct {
	query, fingerprint, method string
	truncated                  bool
}

// stmtCache maps statement ids of one connection to their statements.
type stmtCache struct {
	m     map[uint32]*stmt
	bytes int
	// last is the most recent prepare: MariaDB lets an execute name it as id 0xffffffff.
	last *stmt
}

const lastPrepared = 0xffffffff

func (c *stmtCache) init() { *c = stmtCache{} }

func (c *stmtCache) get(id uint32) *stmt {
	if id == lastPrepared {
		return c.last
	}
	return c.m[id]
}

// put remembers the statement text q under id and returns it.
func (c *stmtCache) put(id uint32, q string, cut bool, opts *protocols.Options) *stmt {
	s := newStmt(q, cut, opts)
	c.remove(id)
	if c.m == nil {
		c.m = make(map[uint32]*stmt)
	}
	for k, old := range c.m {
		if len(c.m) < maxStmts && c.bytes+len(s.query) <= maxStmtBytes {
			break
		}
		c.bytes -= len(old.query)
		delete(c.m, k)
	}
	c.last = s
	if len(s.query) <= maxStmtBytes {
		c.m[id] = s
		c.bytes += len(s.query)
	}
	return s
}

func (c *stmtCache) remove(id uint32) {
	if s, ok := c.m[id]; ok {
		c.bytes -= len(s.query)
		delete(c.m, id)
	}
}
