package mysql

import (
	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

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
	pt := evParts.New()
	ev.Own(pt)
	ev.MySQL = &pt.MySQL
	*ev.MySQL = event.MySQL{AffectedRows: t.affected, InsertID: t.insertID, NumRows: t.numRows,
		NumFields: t.numFields}
	if t.hasStmt {
		ev.MySQL.StatementID = t.stmtID
	}
	switch t.cmd {
	case comQuery:
		if s := t.stmt; s != nil {
			ev.Query, ev.QueryTruncated, ev.QueryFingerprint, ev.Method = s.query, s.truncated, s.fingerprint, s.method
		}
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
