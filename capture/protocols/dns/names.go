package dns

import "strconv"

// Record types with a name of their own in events; others are TYPEnnn (RFC 3597).
const (
	typeA      = 1
	typeNS     = 2
	typeCNAME  = 5
	typeSOA    = 6
	typePTR    = 12
	typeMX     = 15
	typeTXT    = 16
	typeAAAA   = 28
	typeSRV    = 33
	typeDNAME  = 39
	typeOPT    = 41
	typeHTTPS  = 65
	typeSVCB   = 64
	typeCAA    = 257
	typeANY    = 255
	typeDS     = 43
	typeRRSIG  = 46
	typeNSEC   = 47
	typeDNSKEY = 48
	typeNAPTR  = 35
	typeAXFR   = 252
	typeIXFR   = 251
	typeHINFO  = 13
	typeNSEC3  = 50
	typeTLSA   = 52
	typeSPF    = 99
)

var typeNames = map[uint16]string{
	typeA: "A", typeNS: "NS", typeCNAME: "CNAME", typeSOA: "SOA", typePTR: "PTR", typeMX: "MX",
	typeTXT: "TXT", typeAAAA: "AAAA", typeSRV: "SRV", typeDNAME: "DNAME", typeOPT: "OPT",
	typeHTTPS: "HTTPS", typeSVCB: "SVCB", typeCAA: "CAA", typeANY: "ANY", typeDS: "DS",
	typeRRSIG: "RRSIG", typeNSEC: "NSEC", typeDNSKEY: "DNSKEY", typeNAPTR: "NAPTR",
	typeAXFR: "AXFR", typeIXFR: "IXFR", typeHINFO: "HINFO", typeNSEC3: "NSEC3", typeTLSA: "TLSA",
	typeSPF: "SPF",
}

func typeName(t uint16) string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func className(c uint16) string {
	switch c {
	case 1:
		return "IN"
	case 3:
		return "CH"
	case 4:
		return "HS"
	case 254:
		return "NONE"
	case 255:
		return "ANY"
	}
	return "CLASS" + strconv.Itoa(int(c))
}

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI"}

func rcodeName(c uint8) string {
	if int(c) < len(rcodeNames) {
		return rcodeNames[c]
	}
	return "RCODE" + strconv.Itoa(int(c))
}

var opcodeNames = [...]string{0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE", 6: "DSO"}

func opcodeName(c uint8) string {
	if int(c) < len(opcodeNames) && opcodeNames[c] != "" {
		return opcodeNames[c]
	}
	return "OPCODE" + strconv.Itoa(int(c))
}
