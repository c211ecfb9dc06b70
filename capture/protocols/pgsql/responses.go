package pgsql

import (
	"encoding/binary"
	"time"
)

// response handles one server message: it completes or feeds the entry at the head of the
// queue, or, when the message cannot belong to it, gives up the pairing until the next
// ReadyForQuery.
func (p *parser) response(m *msg, ts time.Time) {
	switch m.typ {
	case 'S', 'N', 'A', 'K', 'v':
		// ParameterStatus, notices, notifications, BackendKeyData and protocol negotiation
		// answer no request.
		return
	}
	if p.needZ {
		if m.typ == 'Z' {
			p.flush(ts)
		}
		return
	}
	if len(p.queue) == 0 {
		return // an answer to a request that was never seen (mid-stream)
	}
	e := &p.queue[0]
	if t := e.tx; t != nil {
		if !t.answered {
			t.answered = true
			t.respBytes += p.carry
			p.carry = 0
		}
		t.respBytes += uint64(m.wire)
	} else {
		p.carry += uint64(m.wire)
	}
	if !p.fits(e, m) {
		p.needZ = true
		if m.typ == 'Z' {
			p.flush(ts)
		}
		return
	}
	switch e.kind {
	case kindStartup:
		switch m.typ {
		case 'E':
			p.fail(e.tx, m)
			p.emit(e.tx, ts)
			p.pop()
		case 'Z':
			p.pop()
		}
	case kindLost, 'F':
		if m.typ == 'Z' {
			p.pop()
		}
	case 'Q':
		p.result(e.tx, m)
		if m.typ == 'Z' {
			p.copyIn = nil
			p.emit(e.tx, ts)
			p.pop()
		}
	case 'E':
		p.result(e.tx, m)
		switch m.typ {
		case 'C', 'I', 's':
			p.copyIn = nil
			p.emit(e.tx, ts)
			p.pop()
		case 'E':
			p.copyIn = nil
			p.emit(e.tx, ts)
			p.pop()
			p.skipBatch(nil, ts)
		}
	case 'D':
		switch m.typ {
		case 'T':
			n := fieldCount(m)
			if e.st != nil {
				e.st.fields = n
			}
			if e.pt != nil {
				e.pt.fields, e.pt.hasFld = n, true
			}
			p.pop()
		case 'n':
			p.pop()
		case 'E':
			p.extendedError(m, ts)
		}
	case 'P', 'B', 'C':
		if m.typ == 'E' {
			p.extendedError(m, ts)
		} else {
			p.pop()
		}
	case 'S':
		if m.typ == 'Z' {
			p.carry = 0
			p.pop()
		}
	}
}

// fits says whether m can be (part of) the answer to e.
func (p *parser) fits(e *entry, m *msg) bool {
	switch e.kind {
	case kindStartup:
		return m.typ == 'R' || m.typ == 'E' || m.typ == 'Z'
	case kindLost:
		return true
	case 'F':
		return m.typ == 'V' || m.typ == 'E' || m.typ == 'Z'
	case 'Q':
		switch m.typ {
		case 'T', 'D', 'C', 'E', 'I', 'Z', 'G', 'H', 'W', 'd', 'c':
			return true
		}
	case 'E':
		switch m.typ {
		case 'D', 'C', 'E', 'I', 's', 'G', 'H', 'W', 'd', 'c':
			return true
		}
	case 'D':
		return m.typ == 't' || m.typ == 'T' || m.typ == 'n' || m.typ == 'E'
	case 'P':
		return m.typ == '1' || m.typ == 'E'
	case 'B':
		return m.typ == '2' || m.typ == 'E'
	case 'C':
		return m.typ == '3' || m.typ == 'E'
	case 'S':
		// An error at Sync (a failed implicit COMMIT) comes after every Execute was answered.
		return m.typ == 'Z' || m.typ == 'E'
	}
	return false
}

// result feeds a result message to the transaction of a Query or Execute.
func (p *parser) result(t *tx, m *msg) {
	switch m.typ {
	case 'T':
		t.fields = fieldCount(m)
	case 'D':
		t.curRows++
	case 'C':
		tag, _ := (&decoder{b: m.body}).cstring()
		if n, ok := tagRows(tag); ok {
			t.rows += n
		} else {
			t.rows += t.curRows
		}
		t.curRows = 0
	case 'E':
		if !t.failed {
			p.fail(t, m)
		}
	case 'G':
		p.copyIn = t
	}
}

// extendedError handles an ErrorResponse to Parse, Bind, Describe or Close: the first Execute
// of the batch fails with it, and the server skips the rest of the batch up to Sync.
func (p *parser) extendedError(m *msg, ts time.Time) {
	failed := p.queue[0]
	p.pop()
	var err tx
	p.fail(&err, m)
	if !p.skipBatch(&err, ts) && failed.kind == 'P' && failed.st != nil {
		// A Parse that failed with no Execute after it (a prepare): still worth an event.
		t := &tx{sql: failed.st.sql, statement: failed.st.name,
			start: p.batchStart, reqBytes: p.batchBytes, respBytes: p.carry, answered: true}
		if t.start.IsZero() {
			t.start = ts
		}
		p.batchStart, p.batchBytes, p.carry = time.Time{}, 0, 0
		copyError(t, &err)
		p.emit(t, ts)
	}
}

// skipBatch settles the queued messages of the current batch after an error: the first
// Execute carries err (when given), the others are reported as skipped. It reports whether an
// Execute took err. If the batch's Sync is not queued yet, later client messages are skipped as
// they come.
func (p *parser) skipBatch(err *tx, ts time.Time) bool {
	took := false
	for len(p.queue) > 0 && p.queue[0].kind != 'S' {
		e := p.queue[0]
		p.pop()
		if e.tx == nil {
			continue
		}
		if err != nil && !took {
			copyError(e.tx, err)
			took = true
		} else {
			e.tx.note = noteSkipped
		}
		p.emit(e.tx, e.tx.start)
	}
	if len(p.queue) == 0 {
		p.skipToSync = true
	}
	return took
}

// flush settles everything queued once pairing is found again at a ReadyForQuery: whatever
// answered them may have been lost.
func (p *parser) flush(ts time.Time) {
	for _, e := range p.queue {
		if reported(e) {
			e.tx.note = noteNoResponse
			p.emit(e.tx, e.tx.start)
		}
	}
	p.queue = p.queue[:0]
	p.needZ, p.skipToSync, p.copyIn, p.carry = false, false, nil, 0
}

// fail records the fields of the ErrorResponse m on t.
func (p *parser) fail(t *tx, m *msg) {
	t.failed = true
	fields(m.body, func(code byte, v []byte) bool {
		switch code {
		case 'S':
			if t.errSev == "" {
				t.errSev = string(v)
			}
		case 'V': // not localised: preferred
			t.errSev = string(v)
		case 'C':
			t.errCode = string(v)
		case 'M':
			t.errMsg = string(v)
		}
		return true
	})
}

func copyError(t, err *tx) {
	t.failed, t.errCode, t.errMsg, t.errSev = true, err.errCode, err.errMsg, err.errSev
}

// fieldCount is the field count of a RowDescription.
func fieldCount(m *msg) uint64 {
	if len(m.body) < 2 {
		return 0
	}
	return uint64(binary.BigEndian.Uint16(m.body))
}
