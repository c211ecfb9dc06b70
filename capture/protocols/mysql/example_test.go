package mysql_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/mysql"
)

// A capture that began after the handshake: the client sends COM_QUERY, the server answers
// with an ERR packet. The parser emits one event per command and its answer.
func ExampleNew() {
	conn := &protocols.Conn{
		Client:    netip.MustParseAddrPort("10.1.2.3:51234"),
		Server:    netip.MustParseAddrPort("10.1.2.4:3306"),
		Transport: "tcp", CommunityID: "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", MidStream: true,
	}
	sink := protocols.SinkFunc(func(ev *event.Event) {
		b, _ := json.MarshalIndent(ev, "", "  ")
		fmt.Println(string(b))
	})
	p := mysql.New(conn, &protocols.Options{MaskLiterals: true}, sink)
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	p.Data(protocols.ToServer, frame(0, "\x03SELECT * FROM orders WHERE id = 42"), t0)
	p.Data(protocols.ToClient, frame(1, "\xff\x7a\x04#42S02Table 'shop.orders' doesn't exist"),
		t0.Add(350*time.Microsecond))
	p.Close(t0.Add(time.Second))
	// Output:
	// {
	//   "@timestamp": "2026-11-24T12:00:00Z",
	//   "type": "mysql",
	//   "status": "Error",
	//   "method": "SELECT",
	//   "query": "SELECT * FROM orders WHERE id = ?",
	//   "query_fingerprint": "122c73b459d7a4fa",
	//   "event": {
	//     "kind": "event",
	//     "category": "database",
	//     "dataset": "mysql",
	//     "duration": 350000,
	//     "start": "2026-11-24T12:00:00Z",
	//     "end": "2026-11-24T12:00:00.00035Z"
	//   },
	//   "source": {
	//     "ip": "10.1.2.3",
	//     "port": 51234,
	//     "bytes": 39
	//   },
	//   "destination": {
	//     "ip": "10.1.2.4",
	//     "port": 3306,
	//     "bytes": 46
	//   },
	//   "client": {
	//     "ip": "10.1.2.3",
	//     "port": 51234,
	//     "bytes": 39
	//   },
	//   "server": {
	//     "ip": "10.1.2.4",
	//     "port": 3306,
	//     "bytes": 46
	//   },
	//   "network": {
	//     "type": "ipv4",
	//     "transport": "tcp",
	//     "protocol": "mysql",
	//     "community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
	//     "bytes": 85
	//   },
	//   "mysql": {
	//     "affected_rows": 0,
	//     "insert_id": 0,
	//     "num_rows": 0,
	//     "num_fields": 0,
	//     "error_code": 1146,
	//     "error_message": "Table 'shop.orders' doesn't exist",
	//     "sql_state": "42S02"
	//   }
	// }
}

// frame puts a MySQL packet header (3-byte length, sequence id) before payload.
func frame(seq byte, payload string) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}
