package event

import (
	"net/netip"
	"time"
)

// JSON of the sub-structs every event carries; see AppendJSON.

// appendTail writes m from its duration on, after what appendHead writes; ts and tsText are
// the event's time and its JSON, which the start time reuses when it is the same instant in
// the same location. e is the Encoder, or nil.
func (m *Meta) appendTail(b []byte, ts time.Time, tsText []byte, e *Encoder) []byte {
	b = appendInt(b, m.Duration)
	b = append(b, `,"start":`...)
	// The same instant with the same wall and location words (the commonest case: both set
	// from one time) is told without Equal's call, which took the pipelined mix's replay
	// from 8.94G to 8.89G instructions (cachegrind).
	if m.Start == ts || m.Start.Equal(ts) && m.Start.Location() == ts.Location() { //nolint:staticcheck // == is the fast case, Equal the rest
		b = append(b, tsText...)
	} else {
		b = appendTime(b, m.Start)
	}
	if !m.End.IsZero() {
		b = append(b, `,"end":`...)
		if e != nil {
			b = e.appendTime(b, m.End) // the encoder has ts's second, where the end most often is
		} else {
			b = appendTimeLike(b, m.End, ts, tsText)
		}
	}
	return append(b, '}')
}

// appendHead writes m up to its duration, which depends on the type of event only.
func (m *Meta) appendHead(b []byte) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, m.Kind)
	b = optString(b, `,"category":`, m.Category)
	b = optString(b, `,"dataset":`, m.Dataset)
	return append(b, `,"duration":`...)
}

// optJSON appends key and e unless e is zero (omitzero). It returns, besides, the text it
// wrote for e (`{…}`) and for its address and port (`{"ip":…,"port":…,"bytes":`). When like
// is the same endpoint and likeText its text, that is copied; when like has the same address
// and port and likeHead is its head, the head is.
func (e *Endpoint) optJSON(b []byte, key string, like *Endpoint, likeText, likeHead []byte) (_, text, head []byte) {
	if e.Bytes == 0 && e.Port == 0 && e.Packets == 0 && e.IP == (netip.Addr{}) { // *e == Endpoint{}, without a call
		return b, nil, nil
	}
	b = append(b, key...)
	at := len(b)
	if likeText != nil && e.Bytes == like.Bytes && e.Port == like.Port && e.Packets == like.Packets && e.IP == like.IP {
		b = append(b, likeText...)
		return b, b[at:], likeHead
	}
	if likeHead != nil && e.IP == like.IP && e.Port == like.Port {
		b = append(b, likeHead...)
	} else {
		b = appendEndpointHead(b, e.IP, e.Port)
	}
	head = b[at:]
	b = appendUint(b, e.Bytes)
	b = optUint(b, `,"packets":`, e.Packets)
	b = append(b, '}')
	return b, b[at:], head
}

// appendEndpointHead writes the text of an endpoint up to its bytes, which optJSON copies when
// it has it already: `{"ip":…,"port":…,"bytes":`.
func appendEndpointHead(b []byte, ip netip.Addr, port uint16) []byte {
	b = append(b, `{"ip":`...)
	b = appendAddr(b, ip)
	b = append(b, `,"port":`...)
	b = appendUint(b, uint64(port))
	return append(b, `,"bytes":`...)
}

// appendJSON writes n; head is the text appendHead writes for n, or nil.
func (n *Network) appendJSON(b, head []byte) []byte {
	if head != nil {
		b = append(b, head...)
	} else {
		b = n.appendHead(b)
	}
	b = optUint(b, `,"bytes":`, n.Bytes)
	if n.Mesh {
		b = append(b, `,"mesh":true`...)
	}
	return append(b, '}')
}

// appendHead writes the fields of n that belong to its connection, the ones before its bytes.
func (n *Network) appendHead(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, n.Type)
	b = append(b, `,"transport":`...)
	b = appendString(b, n.Transport)
	b = optString(b, `,"protocol":`, n.Protocol)
	b = append(b, `,"community_id":`...)
	b = appendString(b, n.CommunityID)
	return optString(b, `,"interface":`, n.Interface)
}

func (t *TLS) appendJSON(b []byte) []byte {
	b = append(b, `{"requested":`...)
	b = appendBool(b, t.Requested)
	if t.Encrypted {
		b = append(b, `,"encrypted":true`...)
	}
	b = t.appendHandshake(b)
	return append(b, '}')
}

func (k *Kubernetes) appendJSON(b []byte) []byte {
	b = append(b, '{')
	open := len(b)
	b = optString(b, `"namespace":`, k.Namespace)
	b = comma(b, open)
	b = append(b, `"pod":{`...)
	pod := len(b)
	b = optString(b, `"name":`, k.Pod.Name)
	if k.Pod.UID != "" {
		b = comma(b, pod)
		b = append(b, `"uid":`...)
		b = appendString(b, k.Pod.UID)
	}
	b = append(b, `},"node":{`...)
	b = optString(b, `"name":`, k.Node.Name)
	b = append(b, '}')
	if len(k.Labels) > 0 {
		b = append(b, `,"labels":`...)
		b = appendStringMap(b, k.Labels)
	}
	return append(b, '}')
}
