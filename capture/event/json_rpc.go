package event

// JSON of the RPC part; see AppendJSON.

func (r *RPC) appendJSON(b []byte) []byte {
	b = append(b, `{"system":`...)
	b = appendString(b, r.System)
	b = optString(b, `,"service":`, r.Service)
	b = optString(b, `,"method":`, r.Method)
	if g := r.GRPC; g != nil {
		b = append(b, `,"grpc":{`...)
		if g.StatusCode != nil {
			b = append(b, `"status_code":`...)
			b = appendInt(b, int64(*g.StatusCode))
			b = append(b, ',')
		}
		b = append(b, `"request_messages":`...)
		b = appendUint(b, g.RequestMessages)
		b = append(b, `,"response_messages":`...)
		b = appendUint(b, g.ResponseMessages)
		b = append(b, '}')
	}
	return append(b, '}')
}
