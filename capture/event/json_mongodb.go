package event

// JSON of the MongoDB part; see AppendJSON.

func (m *MongoDB) appendJSON(b []byte) []byte {
	b = append(b, '{')
	open := len(b)
	b = optString(b, `"collection":`, m.Collection)
	b = comma(b, open)
	b = append(b, `"num_docs":`...)
	b = appendUint(b, m.NumDocs)
	if m.CursorID != 0 {
		b = append(b, `,"cursor_id":`...)
		b = appendInt(b, m.CursorID)
	}
	if m.ErrorCode != 0 {
		b = append(b, `,"error_code":`...)
		b = appendInt(b, int64(m.ErrorCode))
	}
	b = optString(b, `,"error_code_name":`, m.ErrorCodeName)
	b = optString(b, `,"error_message":`, m.ErrorMessage)
	return append(b, '}')
}
