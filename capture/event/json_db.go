package event

// JSON of the database and key-value protocol parts; see AppendJSON.

func (m *MySQL) appendJSON(b []byte) []byte {
	b = append(b, `{"affected_rows":`...)
	b = appendUint(b, m.AffectedRows)
	b = append(b, `,"insert_id":`...)
	b = appendUint(b, m.InsertID)
	b = append(b, `,"num_rows":`...)
	b = appendUint(b, m.NumRows)
	b = append(b, `,"num_fields":`...)
	b = appendUint(b, m.NumFields)
	b = optUint(b, `,"error_code":`, uint64(m.ErrorCode))
	b = optString(b, `,"error_message":`, m.ErrorMessage)
	b = optString(b, `,"sql_state":`, m.SQLState)
	b = optUint(b, `,"statement_id":`, uint64(m.StatementID))
	return append(b, '}')
}

func (p *PgSQL) appendJSON(b []byte) []byte {
	b = append(b, `{"num_rows":`...)
	b = appendUint(b, p.NumRows)
	b = append(b, `,"num_fields":`...)
	b = appendUint(b, p.NumFields)
	b = optString(b, `,"error_code":`, p.ErrorCode)
	b = optString(b, `,"error_message":`, p.ErrorMessage)
	b = optString(b, `,"error_severity":`, p.ErrorSeverity)
	b = optString(b, `,"statement":`, p.Statement)
	b = optString(b, `,"portal":`, p.Portal)
	return append(b, '}')
}

func (r *Redis) appendJSON(b []byte) []byte {
	b = append(b, '{')
	open := len(b)
	b = optString(b, `"return_value":`, r.ReturnValue)
	if r.Error != "" {
		b = comma(b, open)
		b = append(b, `"error":`...)
		b = appendString(b, r.Error)
	}
	return append(b, '}')
}
