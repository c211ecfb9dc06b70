package event

import "net/netip"

// JSON of the DNS part; see AppendJSON.

func (d *DNS) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendUint(b, uint64(d.ID))
	b = append(b, `,"op_code":`...)
	b = appendString(b, d.OpCode)
	f := &d.Flags
	b = append(b, `,"flags":{"authoritative":`...)
	b = appendBool(b, f.Authoritative)
	b = append(b, `,"recursion_available":`...)
	b = appendBool(b, f.RecursionAvailable)
	b = append(b, `,"recursion_desired":`...)
	b = appendBool(b, f.RecursionDesired)
	b = append(b, `,"authentic_data":`...)
	b = appendBool(b, f.AuthenticData)
	b = append(b, `,"checking_disabled":`...)
	b = appendBool(b, f.CheckingDisabled)
	b = append(b, `,"truncated_response":`...)
	b = appendBool(b, f.TruncatedResponse)
	b = append(b, '}')
	b = optString(b, `,"response_code":`, d.ResponseCode)
	b = append(b, `,"question":{"name":`...)
	b = appendString(b, d.Question.Name)
	b = append(b, `,"type":`...)
	b = appendString(b, d.Question.Type)
	b = append(b, `,"class":`...)
	b = appendString(b, d.Question.Class)
	b = append(b, `},"answers_count":`...)
	b = appendInt(b, int64(d.AnswersCount))
	b = append(b, `,"authorities_count":`...)
	b = appendInt(b, int64(d.AuthoritiesCount))
	b = append(b, `,"additionals_count":`...)
	b = appendInt(b, int64(d.AdditionalsCount))
	b = optList(b, `,"answers":[`, d.Answers, func(b []byte, a *DNSAnswer) []byte { return a.appendJSON(b) })
	b = optList(b, `,"resolved_ip":[`, d.ResolvedIP, func(b []byte, ip *netip.Addr) []byte { return appendAddr(b, *ip) })
	return append(b, '}')
}

func (a *DNSAnswer) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, a.Name)
	b = append(b, `,"type":`...)
	b = appendString(b, a.Type)
	b = append(b, `,"class":`...)
	b = appendString(b, a.Class)
	b = append(b, `,"ttl":`...)
	b = appendUint(b, uint64(a.TTL))
	b = append(b, `,"data":`...)
	b = appendString(b, a.Data)
	b = optUint(b, `,"preference":`, uint64(a.Preference))
	b = optUint(b, `,"priority":`, uint64(a.Priority))
	b = optUint(b, `,"weight":`, uint64(a.Weight))
	b = optUint(b, `,"port":`, uint64(a.Port))
	return append(b, '}')
}
