package mysql

import (
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// onServer handles one message from the server: the greeting, or part of the answer to the
// pending command. Anything else means the framing cannot be trusted.
func (p *Parser) onServer(m *message) {
	switch p.phase {
	case phaseGreeting:
		if g, ok := parseGreeting(m.payload); ok && m.seq == 0 {
			p.srvCaps = g.caps
			p.phase = phaseLogin
			return
		}
		p.lostSync(protocols.ToClient, "")
	case phaseLogin:
		p.lostSync(protocols.ToClient, "")
	case phaseCommand:
		t := &p.t
		if !t.active {
			p.lostSync(protocols.ToClient, "") // nobody asked: not a response we can place
			return
		}
		if m.seq != t.nextSeq || len(m.payload) == 0 && t.state != rsFirst {
			p.lostSync(protocols.ToClient, "unexpected server packet")
			return
		}
		t.nextSeq = m.lastSeq + 1
		t.respBytes += uint64(m.wire)
		t.end = m.end
		p.onResponse(m)
	}
}

// onResponse advances the pending transaction by one server message.
func (p *Parser) onResponse(m *message) {
	t := &p.t
	b := m.payload
	if len(b) == 0 { // only a few commands answer with a bare string (COM_STATISTICS)
		p.finish()
		return
	}
	switch t.state {
	case rsFirst:
		p.firstResponse(m)
	case rsColumns:
		if b[0] == hdrERR {
			p.fail(b)
			return
		}
		if t.defsLeft--; t.defsLeft == 0 {
			t.state = rsAfterDefs
		}
	case rsAfterDefs:
		if b[0] == hdrEOF && m.total < 7 {
			p.eofMode = eofPackets
			if terminatorStatus(b, m.total)&statusCursorExists != 0 {
				p.finish() // rows come with COM_STMT_FETCH
				return
			}
			t.state = rsRows
			return
		}
		t.state = rsRows
		p.row(m)
	case rsRows:
		p.row(m)
	case rsInfileDone:
		p.firstResponse(m)
	case rsPrepDefs:
		p.prepDef(m)
	case rsAuth:
		switch b[0] {
		case hdrOK:
			p.authOK()
		case hdrERR:
			p.fail(b)
		}
	case rsFieldList:
		switch b[0] {
		case hdrEOF:
			p.finish()
		case hdrERR:
			p.fail(b)
		}
	case rsInfile:
		p.lostSync(protocols.ToClient, "server packet during LOCAL INFILE")
	}
}

// firstResponse reads the message that opens a response: OK, ERR, a result set or a LOCAL
// INFILE request.
func (p *Parser) firstResponse(m *message) {
	t := &p.t
	b := m.payload
	switch b[0] {
	case hdrOK:
		if t.cmd == comStmtPrepare {
			p.prepareOK(b)
			return
		}
		ok := parseOK(b)
		t.affected += ok.affected
		t.insertID = max(t.insertID, ok.insertID)
		if ok.status&statusMoreResults == 0 {
			p.finish()
		}
		return
	case hdrERR:
		p.fail(b)
		return
	case hdrEOF:
		p.finish() // COM_SET_OPTION, or COM_FIELD_LIST without columns
		return
	case hdrInfile:
		if t.cmd == comQuery && t.state == rsFirst {
			t.state = rsInfile
			return
		}
	}
	switch t.cmd {
	case comQuery, comStmtExecute, comStmtBulkExecute, comProcessInfo:
	case comFieldList:
		t.state = rsFieldList
		return
	default:
		p.finish() // a bare answer (COM_STATISTICS) or one we do not follow further
		return
	}
	n, k, ok := lenenc(b)
	if !ok || n == 0 || n > 1<<16 {
		p.lostSync(protocols.ToClient, "malformed result set header")
		return
	}
	if t.numFields == 0 {
		t.numFields = n
	}
	t.defsLeft = n
	t.state = rsColumns
	if len(b) > k && b[k] == 0 {
		t.state = rsAfterDefs // MariaDB cached metadata: no definitions follow
	}
}

// row counts one row, or ends the result set at its terminator.
func (p *Parser) row(m *message) {
	t := &p.t
	b := m.payload
	switch {
	case b[0] == hdrEOF && m.first < maxPacket && m.total < maxPacket:
		if m.total >= 7 {
			p.eofMode = eofDeprecated
		} else {
			p.eofMode = eofPackets
		}
		if terminatorStatus(b, m.total)&statusMoreResults != 0 {
			t.state = rsFirst
			return
		}
		p.finish()
	case b[0] == hdrERR:
		p.fail(b)
	default:
		t.numRows++
	}
}

// prepareOK reads COM_STMT_PREPARE_OK: statement id, columns, parameters.
func (p *Parser) prepareOK(b []byte) {
	t := &p.t
	if len(b) < 9 {
		p.lostSync(protocols.ToClient, "malformed prepare response")
		return
	}
	t.stmtID, t.hasStmt = le32(b[1:]), true
	t.prepCols, t.prepParams = uint64(le16(b[5:])), uint64(le16(b[7:]))
	t.numFields = t.prepCols
	t.stmt = p.stmts.put(t.stmtID, t.query, t.queryCut, p.opts)
	t.state = rsPrepDefs
	if t.prepCols == 0 && t.prepParams == 0 {
		p.finish()
	}
}

// prepDef reads one message of the definitions that follow COM_STMT_PREPARE_OK: parameter
// definitions, then column definitions, each block ended by an EOF packet unless EOF is
// deprecated.
func (p *Parser) prepDef(m *message) {
	t := &p.t
	if t.eofMaybe && m.payload[0] == hdrEOF && m.total < 7 {
		t.eofMaybe = false
		p.eofMode = eofPackets
		if t.prepParams == 0 && t.prepCols == 0 {
			p.finish()
		}
		return
	}
	t.eofMaybe = false
	switch {
	case t.prepParams > 0:
		t.prepParams--
		if t.prepParams == 0 {
			t.eofMaybe = true
			if t.prepCols == 0 {
				p.prepEnd()
			}
		}
	case t.prepCols > 0:
		t.prepCols--
		if t.prepCols == 0 {
			t.eofMaybe = true
			p.prepEnd()
		}
	default:
		p.lostSync(protocols.ToClient, "unexpected packet after prepare response")
	}
}

// prepEnd is reached after the last definition: done, unless an EOF packet is due.
func (p *Parser) prepEnd() {
	switch p.eofMode {
	case eofDeprecated:
		p.finish()
	case eofUnknown:
		p.t.soft = true
	}
}

// authOK ends a login or COM_CHANGE_USER exchange.
func (p *Parser) authOK() {
	t := &p.t
	if t.cmd == comChangeUser {
		if t.user != "" {
			p.user = &event.User{Name: t.user}
		}
		p.db = nil
		if t.db != "" {
			p.db = &event.DB{Name: t.db}
		}
		p.finish()
		return
	}
	t.active = false // a successful login is not an event of its own
	if p.caps&capCompress != 0 {
		// The compressed protocol starts now; it is not decoded. Say so once.
		ev := p.newEvent()
		ev.Method = "COMPRESS"
		ev.Status = event.StatusOK
		ev.Error = &event.Error{Message: "compressed protocol: the connection is not decoded"}
		p.sink.Emit(ev)
		p.phase = phaseDead
	}
}

// fail ends the transaction with the ERR packet b; a MariaDB progress report does not end it.
func (p *Parser) fail(b []byte) {
	e := parseERR(b)
	if e.code == errProgress {
		return
	}
	p.t.failed = true
	p.t.err = e
	p.finish()
}
