package mysql

import (
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// respState is where the pending transaction's response stands.
type respState uint8

const (
	rsFirst      respState = iota // waiting for the first response message
	rsColumns                     // column definitions of a result set
	rsAfterDefs                   // after the definitions: an EOF packet, rows or the terminator
	rsRows                        // rows until the EOF/OK terminator or an ERR
	rsInfile                      // LOCAL INFILE: the client sends the file, then an empty packet
	rsInfileDone                  // the file was sent: OK or ERR follows
	rsPrepDefs                    // parameter and column definitions after COM_STMT_PREPARE OK
	rsAuth                        // login or COM_CHANGE_USER: auth exchange until OK or ERR
	rsFieldList                   // COM_FIELD_LIST: definitions until EOF
)

// txn is the command in flight and what is known of its response. The MySQL protocol is
// half-duplex: one command at a time, so one txn per connection.
type txn struct {
	active bool
	// probed says the server side already tried to resynchronise on this command's answer.
	probed bool
	// soft means the response is complete unless an optional EOF packet follows (prepare
	// responses when the EOF mode is unknown): the next command ends it normally.
	soft bool

	cmd        byte
	start, end time.Time
	reqBytes   uint64
	respBytes  uint64
	nextSeq    byte
	state      respState

	query    string
	queryCut bool
	stmt     *stmt  // resolved prepared statement (execute, fetch, reset)
	stmtID   uint32 // statement id of a COM_STMT_* command or a prepare answer
	hasStmt  bool
	user, db string // COM_CHANGE_USER, COM_INIT_DB

	defsLeft           uint64
	prepParams         uint64
	prepCols           uint64
	eofMaybe           bool
	numFields, numRows uint64
	affected, insertID uint64
	failed             bool
	err                errPacket
}

func (p *Parser) onClient(m *message) {
	t := &p.t
	switch p.phase {
	case phaseGreeting, phaseLogin:
		if m.seq == 1 && len(m.payload) > 0 {
			if l, ok := parseLogin(m.payload); ok {
				p.onLogin(m, l)
				return
			}
		}
		if m.seq == 0 && validCommand(m.payload, m.total) {
			p.phase = phaseCommand // the handshake was not seen
			p.onCommand(m)
			return
		}
		p.lostSync(protocols.ToServer, "")
	case phaseCommand:
		switch {
		case t.active && (t.state == rsInfile || t.state == rsAuth) && m.seq == t.nextSeq:
			// File contents or auth data: part of the request.
			t.reqBytes += uint64(m.wire)
			t.nextSeq = m.lastSeq + 1
			if t.state == rsInfile && m.total == 0 {
				t.state = rsInfileDone
			}
		case m.seq == 0 && validCommand(m.payload, m.total):
			p.onCommand(m)
		default:
			// Not a command: the framing went wrong, or this is traffic we do not follow.
			p.lostSync(protocols.ToServer, "unexpected client packet")
		}
	}
}

func (p *Parser) onLogin(m *message, l login) {
	p.caps = l.caps
	if p.phase == phaseLogin {
		p.caps &= p.srvCaps
	}
	p.capsKnown = true
	if p.caps&capDeprecateEOF != 0 {
		p.eofMode = eofDeprecated
	} else {
		p.eofMode = eofPackets
	}
	p.phase = phaseCommand
	if l.sslRequest {
		// One event says the connection went encrypted; what follows is TLS.
		ev := protocols.NewEvent(p.conn, event.TypeMySQL, m.start)
		ev.Method = "SSL"
		ev.Status = event.StatusOK
		ev.TLS = &event.TLS{Requested: true}
		protocols.Finish(ev, m.end, uint64(m.wire), 0)
		p.sink.Emit(ev)
		p.phase = phaseDead
		p.half[0].buf, p.half[1].buf = nil, nil
		return
	}
	if l.user != "" {
		p.user = &event.User{Name: l.user}
	}
	if l.db != "" {
		p.db = &event.DB{Name: l.db}
	}
	p.t = txn{active: true, cmd: cmdLogin, start: m.start, end: m.end, reqBytes: uint64(m.wire),
		nextSeq: m.lastSeq + 1, state: rsAuth}
}

// maxPipeline bounds the commands a client sends before their answers. MariaDB connectors
// pipeline COM_STMT_PREPARE with the COM_STMT_EXECUTE of the statement it is preparing; past
// the bound the oldest command is given up as unanswered.
const maxPipeline = 8

// onCommand starts the transaction of a client command (sequence id 0), or queues it behind
// the commands still waiting for their answers: the server answers in order.
func (p *Parser) onCommand(m *message) {
	if t := &p.t; t.active {
		switch {
		case t.soft:
			p.finish()
		case t.cmd == cmdLogin:
			t.active = false // the login answer was not seen; nothing to report
		}
	}
	b := m.payload
	cmd := b[0]
	nt := txn{active: true, cmd: cmd, start: m.start, end: m.end, reqBytes: uint64(m.wire),
		nextSeq: m.lastSeq + 1}
	body := b[1:]
	switch cmd {
	case comQuery, comStmtPrepare:
		nt.query, nt.queryCut = text(body, m.cut())
	case comInitDB:
		nt.db, _ = text(body, m.cut())
	case comStmtExecute, comStmtFetch, comStmtReset, comStmtBulkExecute, comStmtClose, comStmtSendLongData:
		if len(body) < 4 {
			return
		}
		nt.stmtID, nt.hasStmt = le32(body), true
		if cmd == comStmtFetch {
			nt.state = rsRows
		}
	case comChangeUser:
		if user, rest, ok := cstring(body); ok {
			nt.user = string(user)
			// auth data (1-byte length), then the database
			if len(rest) > 0 && len(rest)-1 >= int(rest[0]) {
				if db, _, ok := cstring(rest[1+int(rest[0]):]); ok {
					nt.db = string(db)
				}
			}
		}
		nt.state = rsAuth
	}
	if p.t.active {
		if len(p.queue) == maxPipeline {
			p.abort("no response")
		}
		p.queue = append(p.queue, nt)
		return
	}
	p.t = nt
	p.activate()
}

// activate runs when p.t becomes the command the server answers next: statement ids are
// resolved now, after the answers to the commands before it (a pipelined prepare) were read.
// Commands without an answer end here.
func (p *Parser) activate() {
	t := &p.t
	switch t.cmd {
	case comStmtClose:
		p.stmts.remove(t.stmtID)
		t.active = false // no response, and nothing worth an event
		p.next()
		return
	case comStmtSendLongData:
		t.active = false
		p.next()
		return
	case comQuit:
		p.finish()
		return
	}
	if t.hasStmt {
		t.stmt = p.stmts.get(t.stmtID)
	}
}

// next makes the oldest queued command the pending one.
func (p *Parser) next() {
	if p.t.active || len(p.queue) == 0 {
		return
	}
	p.t = p.queue[0]
	n := copy(p.queue, p.queue[1:])
	p.queue = p.queue[:n]
	p.activate()
}

// abortAll gives up the pending command and every queued one.
func (p *Parser) abortAll(reason string) {
	for p.t.active {
		p.abort(reason)
	}
}

// text is the statement text of a command body; cut says the body was not kept whole.
func text(b []byte, cut bool) (string, bool) {
	if cut {
		b = trimRune(b)
	}
	return string(b), cut
}

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

// finish emits the event of the pending transaction.
func (p *Parser) finish() {
	t := &p.t
	if !t.active {
		return
	}
	if t.cmd == comInitDB && !t.failed && t.db != "" {
		p.db = &event.DB{Name: t.db}
	}
	ev := p.newEvent()
	if t.failed {
		ev.Status = event.StatusError
		ev.MySQL.ErrorCode = t.err.code
		ev.MySQL.SQLState = t.err.sqlState
		ev.MySQL.ErrorMessage = t.err.message
	}
	t.active = false
	p.sink.Emit(ev)
	p.next()
}

// abort emits the pending transaction with what is known, status Error and reason; a login
// that was not answered is dropped.
func (p *Parser) abort(reason string) {
	t := &p.t
	if !t.active {
		return
	}
	if t.soft {
		p.finish()
		return
	}
	if t.cmd == cmdLogin || reason == "" {
		t.active = false
		p.next()
		return
	}
	ev := p.newEvent()
	ev.Status = event.StatusError
	ev.Error = &event.Error{Message: reason}
	t.active = false
	p.sink.Emit(ev)
	p.next()
}

// newEvent builds the event of the pending transaction, status OK.
func (p *Parser) newEvent() *event.Event {
	t := &p.t
	ev := protocols.NewEvent(p.conn, event.TypeMySQL, t.start)
	ev.Status = event.StatusOK
	ev.User, ev.DB = p.user, p.db
	ev.MySQL = &event.MySQL{AffectedRows: t.affected, InsertID: t.insertID, NumRows: t.numRows,
		NumFields: t.numFields}
	if t.hasStmt {
		ev.MySQL.StatementID = t.stmtID
	}
	switch t.cmd {
	case comQuery:
		protocols.SetQuery(ev, t.query, p.opts)
		ev.QueryTruncated = ev.QueryTruncated || t.queryCut
		if ev.Method == "" {
			ev.Method = "QUERY"
		}
	case comStmtPrepare:
		ev.Method = "PREPARE"
		protocols.SetQuery(ev, t.query, p.opts)
		ev.QueryTruncated = ev.QueryTruncated || t.queryCut
	case comStmtExecute, comStmtBulkExecute, comStmtFetch, comStmtReset:
		if t.cmd != comStmtExecute && t.cmd != comStmtBulkExecute {
			ev.Method = commandName(t.cmd)
		}
		if s := t.stmt; s != nil {
			ev.Query, ev.QueryTruncated, ev.QueryFingerprint = s.query, s.truncated, s.fingerprint
			if ev.Method == "" {
				ev.Method = s.method
			}
		}
		if ev.Method == "" {
			ev.Method = "EXECUTE"
		}
	case comInitDB:
		ev.Method = "INIT_DB"
		if t.db != "" {
			ev.DB = &event.DB{Name: t.db}
		}
	case comChangeUser:
		ev.Method = "CHANGE_USER"
		if t.user != "" {
			ev.User = &event.User{Name: t.user}
		}
	default:
		ev.Method = commandName(t.cmd)
	}
	protocols.Finish(ev, t.end, t.reqBytes, t.respBytes)
	return ev
}
