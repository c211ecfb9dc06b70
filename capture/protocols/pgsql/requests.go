package pgsql

import (
	"time"
)

// request handles one typed client message.
func (p *parser) request(m *msg, ts time.Time) {
	d := decoder{b: m.body}
	switch m.typ {
	case 'Q':
		t := p.newTx(m.start, uint64(m.wire))
		t.sql = p.intern(sqlBytes(&d))
		p.enqueue(entry{kind: 'Q', tx: t}, ts)
	case 'P':
		name, _ := d.cstring()
		text := p.intern(sqlBytes(&d))
		p.batch(m)
		if p.skipToSync {
			return // the server skips it: no statement is made
		}
		p.enqueue(entry{kind: 'P', st: p.parse(name, text)}, ts)
	case 'B':
		pname, ok1 := d.cstring()
		sname, ok2 := d.cstring()
		p.batch(m)
		if ok1 && ok2 && !p.skipToSync {
			p.bind(pname, sname)
		}
		p.enqueue(entry{kind: 'B'}, ts)
	case 'D':
		what := d.byte()
		name, _ := d.cstring()
		e := entry{kind: 'D'}
		switch what {
		case 'S':
			e.st = p.stmts[string(name)]
		case 'P':
			e.pt = p.portals[string(name)]
		}
		p.batch(m)
		p.enqueue(e, ts)
	case 'E':
		name, ok := d.cstring()
		p.batch(m)
		t := p.newTx(p.batchStart, p.batchBytes)
		p.batchStart, p.batchBytes = time.Time{}, 0
		if ok {
			p.execute(t, name)
		} else {
			t.note = noteNoStatement
		}
		p.enqueue(entry{kind: 'E', tx: t}, ts)
	case 'C':
		what := d.byte()
		name, _ := d.cstring()
		if !p.skipToSync {
			p.closeObject(what, name)
		}
		p.enqueue(entry{kind: 'C'}, ts)
	case 'S':
		p.enqueue(entry{kind: 'S'}, ts)
	case 'F':
		p.enqueue(entry{kind: 'F'}, ts)
	case 'd', 'c', 'f':
		if p.copyIn != nil {
			p.copyIn.reqBytes += uint64(m.wire)
			if m.typ != 'd' {
				p.copyIn = nil
			}
		}
	}
	// 'H' Flush, 'X' Terminate and 'p' (password, SASL) need no answer of their own.
}

// sqlBytes reads the NUL-terminated SQL text at d, or what was kept of it for a message larger
// than the limit; it reports whether the text is cut.
func sqlBytes(d *decoder) ([]byte, bool) {
	b, ok := d.cstring()
	if !ok {
		// No NUL in what was kept: the message was cut (or is malformed).
		return d.b, true
	}
	return b, false
}

// batch adds an extended-protocol message to the ones the next Execute reports.
func (p *parser) batch(m *msg) {
	if p.batchStart.IsZero() {
		p.batchStart = m.start
	}
	p.batchBytes += uint64(m.wire)
}

// enqueue queues e unless the server is skipping to Sync after an error, in which case e is
// settled at once: its Execute is reported as not executed.
func (p *parser) enqueue(e entry, ts time.Time) {
	if p.skipToSync {
		switch e.kind {
		case 'S':
			p.skipToSync = false
		case 'Q', 'E':
			e.tx.note = noteSkipped
			p.emit(e.tx, e.tx.start)
			return
		default:
			return
		}
	}
	p.push(e, ts)
}

// execute fills t from the portal named name and the statement bound to it.
func (p *parser) execute(t *tx, name []byte) {
	pt := p.portals[string(name)]
	t.portal = string(name)
	if pt != nil {
		t.statement = pt.stmtName
	}
	if pt == nil || pt.st == nil {
		t.note = noteNoStatement
		return
	}
	t.sql, t.pt = pt.st.sql, pt
	if t.sql.text == "" && t.sql.cut {
		t.note = noteNoStatement
	}
}

// parse records the statement of a Parse message, replacing one of the same name.
func (p *parser) parse(name []byte, text *sqlText) *stmt {
	if p.stmts == nil {
		p.stmts = make(map[string]*stmt)
	}
	if old := p.stmts[string(name)]; old != nil {
		p.stored -= len(old.sql.text)
		delete(p.stmts, old.name)
	}
	for len(p.stmts) >= maxNames || len(p.stmts) > 0 && p.stored+len(text.text) > p.limit {
		for k, v := range p.stmts { // any one: Go randomises the order
			p.stored -= len(v.sql.text)
			delete(p.stmts, k)
			break
		}
	}
	st := &stmt{name: string(name), sql: text}
	p.stored += len(text.text)
	p.stmts[st.name] = st
	return st
}

// bind points the portal pname at the statement sname. An existing portal entry is reused so
// that a steady stream of unnamed Binds allocates nothing.
func (p *parser) bind(pname, sname []byte) {
	if p.portals == nil {
		p.portals = make(map[string]*portal)
	}
	st := p.stmts[string(sname)]
	pt := p.portals[string(pname)]
	// The statement's name as a string made before, when there is one: Binds that alternate
	// between prepared statements (pgbench -M prepared) then allocate nothing either.
	var name string
	switch {
	case st != nil:
		name = st.name // its key in stmts: the same bytes
	case pt != nil && pt.stmtName == string(sname):
		name = pt.stmtName
	default:
		name = string(sname)
	}
	if pt != nil {
		*pt = portal{st: st, stmtName: name}
		return
	}
	if len(p.portals) >= maxNames {
		for k := range p.portals {
			delete(p.portals, k)
			break
		}
	}
	p.portals[string(pname)] = &portal{st: st, stmtName: name}
}

// closeObject forgets a statement ('S') or portal ('P') the client closed.
func (p *parser) closeObject(what int, name []byte) {
	switch what {
	case 'S':
		if st := p.stmts[string(name)]; st != nil {
			p.stored -= len(st.sql.text)
			delete(p.stmts, st.name)
		}
	case 'P':
		delete(p.portals, string(name))
	}
}
