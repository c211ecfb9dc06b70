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

// txn is a command and what is known of its answer. The server answers commands in order, so
// a connection has one txn being answered and a queue of commands sent after it.
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

	query    string // COM_STMT_PREPARE
	queryCut bool
	stmt     *stmt  // COM_QUERY's statement; the resolved prepared one (execute, fetch, reset)
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

// onClient handles one message from the client: the handshake response, a command, or data
// that belongs to the pending command (LOCAL INFILE contents, auth data).
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

// onLogin takes user, database and capabilities from the HandshakeResponse; an SSL request
// ends decoding.
func (p *Parser) onLogin(m *message, l login) {
	p.caps = l.caps
	if p.phase == phaseLogin {
		p.caps &= p.srvCaps
	}
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
		if p.opts.Upgrade != nil {
			p.tls = p.opts.Upgrade(p.conn, p.opts, p.sink)
		}
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
		q, cut := text(body, m.cut())
		nt.queryCut = cut
		if cmd == comQuery {
			nt.stmt = queryStmt(q, cut, p.opts)
		} else {
			nt.query = string(q)
		}
	case comInitDB:
		db, _ := text(body, m.cut())
		nt.db = string(db)
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

// text is the statement text of a command body; cut says the body was not kept whole. Some
// clients (libmysqlclient callers that pass the terminator) send a trailing NUL; it is not
// part of the statement.
func text(b []byte, cut bool) ([]byte, bool) {
	if cut {
		b = trimRune(b)
	}
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b, cut
}
