package event

// JSON of the flow, loss and truncation reports; see AppendJSON.

func (f *Flow) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, f.ID)
	b = append(b, `,"final":`...)
	b = appendBool(b, f.Final)
	b = append(b, `,"retransmissions":`...)
	b = f.Retransmissions.appendJSON(b)
	b = append(b, `,"gaps":`...)
	b = f.Gaps.appendJSON(b)
	b = append(b, `,"gap_bytes":`...)
	b = f.GapBytes.appendJSON(b)
	return append(b, '}')
}

func (d *Directional) appendJSON(b []byte) []byte {
	b = append(b, `{"source":`...)
	b = appendUint(b, d.Source)
	b = append(b, `,"destination":`...)
	b = appendUint(b, d.Destination)
	return append(b, '}')
}

func (l *Loss) appendJSON(b []byte) []byte {
	b = append(b, `{"events":`...)
	if l.Events == nil {
		b = append(b, "null"...)
	} else {
		var buf [32]entry[uint64]
		b = append(b, '{')
		for i, e := range sortedEntries(l.Events, buf[:]) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, e.k)
			b = append(b, ':')
			b = appendUint(b, e.v)
		}
		b = append(b, '}')
	}
	b = append(b, `,"total":`...)
	b = appendUint(b, l.Total)
	b = append(b, `,"reason":`...)
	b = appendString(b, l.Reason)
	return append(b, '}')
}

func (t *Truncated) appendJSON(b []byte) []byte {
	b = append(b, `{"original_bytes":`...)
	b = appendInt(b, int64(t.OriginalBytes))
	b = optList(b, `,"dropped":[`, t.Dropped, func(b []byte, s *string) []byte { return appendString(b, *s) })
	return append(b, '}')
}
