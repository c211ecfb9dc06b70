package event_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
)

// FuzzAppendJSON compares AppendJSON with encoding/json on events whose text fields (statement,
// error, URL, headers and labels, DNS names, ...), address zone and times come from the fuzzer.
// Times encoding/json refuses (see TestAppendJSONInvalidTimes) are skipped.
func FuzzAppendJSON(f *testing.F) {
	f.Add("SELECT * FROM t WHERE a = '<b>' AND c = \"\\\"", "bad \xff utf8", "/p?x=1&y=\u2028", "X-Key", "v\x00\x1f", "eth0", int64(1764310418), int64(123456789), int32(19800))
	f.Add("", "", "", "", "", "", int64(0), int64(0), int32(0))
	f.Add("\xed\xa0\x80\xc3", "\u2029", "\x7f\"", "\xff", "é", "%", int64(-62135596800), int64(999999999), int32(-86399))
	f.Fuzz(func(t *testing.T, query, errMsg, url, key, value, zone string, sec, nsec int64, offset int32) {
		ts := time.Unix(sec, nsec).In(time.FixedZone(zone, int(offset)))
		ip := netip.MustParseAddr("fe80::1")
		if zone != "" {
			ip = ip.WithZone(zone)
		}
		ev := &event.Event{
			Timestamp: ts, Type: value, Status: key, Method: query, Query: query, QueryTruncated: sec%2 == 0, QueryFingerprint: errMsg,
			Event:  event.Meta{Kind: key, Category: value, Dataset: url, Duration: nsec, Start: ts, End: ts.Add(time.Duration(nsec))},
			Source: event.Endpoint{IP: ip, Port: uint16(sec), Bytes: uint64(nsec), Packets: uint64(offset)},
			Client: event.Endpoint{IP: ip.WithZone(""), Port: uint16(offset)},
			// The server is the destination but for its bytes half the time (the encoder
			// copies the address and port text then).
			Destination: event.Endpoint{IP: ip, Port: uint16(nsec), Bytes: 1},
			Server:      event.Endpoint{IP: ip, Port: uint16(nsec) + uint16(sec&1), Bytes: uint64(sec), Packets: uint64(nsec)},
			Network:     event.Network{Type: key, Transport: value, Protocol: query, CommunityID: errMsg, Interface: zone},
			User:        &event.User{Name: key}, DB: &event.DB{Name: value}, Error: &event.Error{Message: errMsg},
			MySQL: &event.MySQL{ErrorMessage: errMsg, SQLState: value}, PgSQL: &event.PgSQL{ErrorMessage: errMsg, Statement: key, Portal: value},
			Redis: &event.Redis{ReturnValue: value, Error: errMsg},
			HTTP: &event.HTTP{Version: key, Request: event.HTTPRequest{Method: query, Headers: map[string]string{key: value, value: key, "a": url},
				Body: &event.HTTPBody{Content: value}}, Response: &event.HTTPResponse{StatusPhrase: errMsg, Headers: map[string]string{key: url}}},
			URL:       &event.URL{Original: url, Path: url, Query: query, Domain: value},
			UserAgent: &event.UserAgent{Original: value},
			Flow:      &event.Flow{ID: key},
			DNS: &event.DNS{OpCode: key, ResponseCode: value, Question: event.DNSQuestion{Name: url, Type: key, Class: value},
				Answers: []event.DNSAnswer{{Name: url, Data: errMsg, Type: key}}, ResolvedIP: []netip.Addr{ip}},
			Loss:            &event.Loss{Events: map[string]uint64{key: 1, value: 2}, Reason: errMsg},
			ExportTruncated: &event.Truncated{Dropped: []string{query, key}},
			Kubernetes:      &event.Kubernetes{Namespace: key, Pod: event.Pod{Name: value, UID: zone}, Labels: map[string]string{key: value, url: errMsg}},
		}
		if _, err := stdJSON(ev); err != nil {
			t.Skip(err) // a time outside RFC 3339
		}
		checkSame(t, "fuzzed event", ev)
	})
}
