package event

import "net/netip"

// DNS holds `dns.*`, in Packetbeat's layout: the question, the response code, flags and the
// answer records of one query and response.
type DNS struct {
	ID     uint16   `json:"id"`
	OpCode string   `json:"op_code"`
	Flags  DNSFlags `json:"flags"`
	// ResponseCode is NOERROR, NXDOMAIN, SERVFAIL, ...; empty when no response was seen.
	ResponseCode     string      `json:"response_code,omitempty"`
	Question         DNSQuestion `json:"question"`
	AnswersCount     int         `json:"answers_count"`
	AuthoritiesCount int         `json:"authorities_count"`
	AdditionalsCount int         `json:"additionals_count"`
	Answers          []DNSAnswer `json:"answers,omitempty"`
	// ResolvedIP lists the addresses of the A and AAAA answers (ECS dns.resolved_ip).
	ResolvedIP []netip.Addr `json:"resolved_ip,omitempty"`
}

// DNSFlags are the header flags of the response (of the query when none came).
type DNSFlags struct {
	Authoritative      bool `json:"authoritative"`
	RecursionAvailable bool `json:"recursion_available"`
	RecursionDesired   bool `json:"recursion_desired"`
	AuthenticData      bool `json:"authentic_data"`
	CheckingDisabled   bool `json:"checking_disabled"`
	TruncatedResponse  bool `json:"truncated_response"`
}

// DNSQuestion is `dns.question.*`. Name is in presentation format, without the final dot;
// bytes outside printable ASCII, dots and backslashes inside a label are escaped as \DDD, \.
// and \\.
type DNSQuestion struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Class string `json:"class"`
}

// DNSAnswer is one resource record of the answer section. Data is the address for A and
// AAAA, the target name for CNAME, NS, PTR, MX and SRV (with their numbers beside it), the
// strings of a TXT record joined by a space, the fields of a SOA in zone-file order, and the
// hexadecimal RDATA for other types.
type DNSAnswer struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Class      string `json:"class"`
	TTL        uint32 `json:"ttl"`
	Data       string `json:"data"`
	Preference uint16 `json:"preference,omitempty"` // MX
	Priority   uint16 `json:"priority,omitempty"`   // SRV
	Weight     uint16 `json:"weight,omitempty"`     // SRV
	Port       uint16 `json:"port,omitempty"`       // SRV
}
