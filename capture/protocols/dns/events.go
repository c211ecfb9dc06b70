package dns

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
)

// Error messages of transactions that did not complete.
const (
	msgNoResponse = "no response"
	msgNoQuery    = "response without a captured query"
)

// builder turns a query and its response into an event. It keeps scratch buffers, so a
// parser owns one.
type builder struct {
	q    question
	name nameBuf
	opts *protocols.Options
}

// emit builds the event of one transaction and hands it to sink. query or resp may be nil
// (no response in time; a response whose query was not captured); both were checked with
// checkMessage. why is the error message when resp is nil or query is nil.
func (b *builder) event(c *protocols.Conn, query []byte, qts time.Time, qBytes int, resp []byte, rts time.Time, rBytes int, why string) *event.Event {
	msg, start, end := resp, qts, rts
	if resp == nil {
		msg, end = query, qts
	}
	if query == nil {
		start = rts
	}
	h, _ := readHeader(msg)
	_ = readQuestion(msg, &h, &b.q)
	ev := protocols.NewEvent(c, event.TypeDNS, start)
	d := &event.DNS{
		ID:     h.id,
		OpCode: opcodeName(h.opcode()),
		Flags: event.DNSFlags{
			Authoritative:      h.flags&0x0400 != 0,
			TruncatedResponse:  h.flags&0x0200 != 0,
			RecursionDesired:   h.flags&0x0100 != 0,
			RecursionAvailable: h.flags&0x0080 != 0,
			AuthenticData:      h.flags&0x0020 != 0,
			CheckingDisabled:   h.flags&0x0010 != 0,
		},
		Question: event.DNSQuestion{Name: b.q.name.String(), Type: typeName(b.q.typ), Class: className(b.q.class)},
	}
	ev.DNS = d
	ev.Method = d.OpCode
	ev.Query = "class " + d.Question.Class + ", type " + d.Question.Type + ", " + d.Question.Name
	if opts := b.opts; opts != nil && opts.MaxQueryLength > 0 && len(ev.Query) > opts.MaxQueryLength {
		ev.Query, ev.QueryTruncated = ev.Query[:opts.MaxQueryLength], true
	}
	ev.Status = event.StatusOK
	if resp != nil {
		d.ResponseCode = rcodeName(h.rcode())
		d.AnswersCount, d.AuthoritiesCount, d.AdditionalsCount = int(h.an), int(h.ns), int(h.ar)
		b.answers(resp, b.q.end, int(h.an), d)
		if h.rcode() != 0 {
			ev.Status = event.StatusError
		}
	}
	if why != "" {
		ev.Status = event.StatusError
		ev.Error = &event.Error{Message: why}
	}
	protocols.Finish(ev, end, uint64(qBytes), uint64(rBytes))
	return ev
}

// answers renders the n records of the answer section that starts at off.
func (b *builder) answers(msg []byte, off, n int, d *event.DNS) {
	if n > 0 {
		d.Answers = make([]event.DNSAnswer, 0, n)
	}
	var r rr
	for range n {
		var err error
		if off, err = readRR(msg, off, &b.name, &r); err != nil {
			return // cannot happen: the message was checked
		}
		a := event.DNSAnswer{Name: b.name.String(), Type: typeName(r.typ), Class: className(r.class), TTL: r.ttl}
		rd := msg[r.rdOff:r.rdEnd]
		switch r.typ {
		case typeA, typeAAAA:
			ip, _ := netip.AddrFromSlice(rd)
			a.Data = ip.String()
			d.ResolvedIP = append(d.ResolvedIP, ip)
		case typeNS, typeCNAME, typePTR, typeDNAME:
			a.Data = b.nameAt(msg, r.rdOff)
		case typeMX:
			a.Preference = binary.BigEndian.Uint16(rd)
			a.Data = b.nameAt(msg, r.rdOff+2)
		case typeSRV:
			a.Priority = binary.BigEndian.Uint16(rd)
			a.Weight = binary.BigEndian.Uint16(rd[2:])
			a.Port = binary.BigEndian.Uint16(rd[4:])
			a.Data = b.nameAt(msg, r.rdOff+6)
		case typeTXT:
			var sb strings.Builder
			for i := 0; i < len(rd); i += 1 + int(rd[i]) {
				if i > 0 {
					sb.WriteByte(' ')
				}
				sb.Write(rd[i+1 : i+1+int(rd[i])])
			}
			a.Data = sb.String()
		case typeSOA:
			a.Data = b.soa(msg, &r)
		default:
			a.Data = hex.EncodeToString(rd)
		}
		d.Answers = append(d.Answers, a)
	}
}

func (b *builder) nameAt(msg []byte, off int) string {
	if _, err := readName(msg, off, &b.name); err != nil {
		return ""
	}
	return b.name.String()
}

// soa renders SOA data in zone-file order: mname rname serial refresh retry expire minimum.
func (b *builder) soa(msg []byte, r *rr) string {
	end, err := readName(msg, r.rdOff, &b.name)
	if err != nil {
		return ""
	}
	var sb strings.Builder
	sb.WriteString(b.name.String())
	if end, err = readName(msg, end, &b.name); err != nil {
		return ""
	}
	sb.WriteByte(' ')
	sb.WriteString(b.name.String())
	for i := range 5 {
		sb.WriteByte(' ')
		sb.WriteString(strconv.FormatUint(uint64(binary.BigEndian.Uint32(msg[end+4*i:])), 10))
	}
	return sb.String()
}
