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
	"github.com/audit-io/wire-audit/capture/protocols/internal/intern"
	"github.com/audit-io/wire-audit/capture/protocols/internal/slab"
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
	// strs, when set, keeps the names, queries, addresses and texts of recent events, which
	// a UDP parser, seeing all the lookups of a pipeline, meets again and again; scratch is
	// where a text is put together to be looked up.
	strs    *intern.Table
	scratch []byte
}

// eventParts hands out the events' parts, several per allocation, to every parser.
var eventParts slab.Pool[parts]

// parts are an event's dns.* and room for the answers of a usual response, allocated
// together: one allocation instead of three. The event owns them (event.Part) and recycles
// them.
type parts struct {
	dns     event.DNS
	answers [2]event.DNSAnswer
	ips     [2]netip.Addr
}

// Recycle gives pt back for eventParts.New (event.Part).
func (pt *parts) Recycle() { eventParts.Free(pt) }

// str is b as a string, a recent one when strs has it.
func (b *builder) str(s []byte) string { return b.strs.Bytes(s) }

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
	pt := eventParts.New()
	ev.Own(pt)
	d := &pt.dns
	*d = event.DNS{
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
		Question: event.DNSQuestion{Name: b.str(b.q.name.bytes()), Type: typeName(b.q.typ), Class: className(b.q.class)},
	}
	ev.DNS = d
	ev.Method = d.OpCode
	b.scratch = append(b.scratch[:0], "class "...)
	b.scratch = append(append(append(append(b.scratch, d.Question.Class...), ", type "...), d.Question.Type...), ", "...)
	b.scratch = append(b.scratch, d.Question.Name...)
	ev.Query = b.str(b.scratch)
	if opts := b.opts; opts != nil && opts.MaxQueryLength > 0 && len(ev.Query) > opts.MaxQueryLength {
		ev.Query, ev.QueryTruncated = ev.Query[:opts.MaxQueryLength], true
	}
	ev.Status = event.StatusOK
	if resp != nil {
		d.ResponseCode = rcodeName(h.rcode())
		d.AnswersCount, d.AuthoritiesCount, d.AdditionalsCount = int(h.an), int(h.ns), int(h.ar)
		b.answers(resp, b.q.end, int(h.an), pt)
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
func (b *builder) answers(msg []byte, off, n int, pt *parts) {
	d := &pt.dns
	switch {
	case n > len(pt.answers):
		d.Answers = make([]event.DNSAnswer, 0, n)
	case n > 0:
		d.Answers = pt.answers[:0:n]
	}
	var r rr
	for range n {
		var err error
		if off, err = readRR(msg, off, &b.name, &r); err != nil {
			return // cannot happen: the message was checked
		}
		a := event.DNSAnswer{Name: b.str(b.name.bytes()), Type: typeName(r.typ), Class: className(r.class), TTL: r.ttl}
		rd := msg[r.rdOff:r.rdEnd]
		switch r.typ {
		case typeA, typeAAAA:
			ip, _ := netip.AddrFromSlice(rd)
			a.Data = b.addr(ip)
			if d.ResolvedIP == nil {
				d.ResolvedIP = pt.ips[:0]
			}
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
			t := b.scratch[:0]
			for i := 0; i < len(rd); i += 1 + int(rd[i]) {
				if i > 0 {
					t = append(t, ' ')
				}
				t = append(t, rd[i+1:i+1+int(rd[i])]...)
			}
			b.scratch = t
			a.Data = b.str(t)
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
	return b.str(b.name.bytes())
}

// addr is ip.String().
func (b *builder) addr(ip netip.Addr) string {
	if !ip.IsValid() {
		return ip.String() // "invalid IP", which AppendTo leaves out; checkRDATA rules it out
	}
	b.scratch = ip.AppendTo(b.scratch[:0])
	return b.str(b.scratch)
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
