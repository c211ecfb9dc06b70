// Package event defines the audit event: one JSON document per transaction (or per flow
// report), in the field layout of Packetbeat and ECS so that existing Packetbeat pipelines and
// DB-audit consumers keep working. docs/events.md documents every field with real examples.
package event

import (
	"net/netip"
	"time"
)

// Types of event, as they appear in the `type` field.
const (
	TypeMySQL = "mysql"
	TypePgSQL = "pgsql"
	TypeRedis = "redis"
	TypeHTTP  = "http"
	TypeFlow  = "flow"
	TypeDNS   = "dns"
	// TypeTLS marks a connection that carries only TLS: it is reported as encrypted, once.
	TypeTLS = "tls"
	// TypeLoss is the exporter's report of events it had to drop (docs/kafka.md).
	TypeLoss = "loss"

	// TypeMongoDB is one MongoDB command and its reply.
	TypeMongoDB = "mongodb"
)

// Status values.
const (
	StatusOK    = "OK"
	StatusError = "Error"
)

// Event is one audit record. Pointer fields are present only for the protocol or kind of event
// that fills them. An Event is built by one goroutine and handed over whole; after Emit nobody
// writes to it again, so exporters may read and encode it concurrently. Parsers take events
// from New, and the exporter that ends an event's life gives it back with Release.
type Event struct {
	Timestamp time.Time `json:"@timestamp"`
	Type      string    `json:"type"`
	Status    string    `json:"status,omitempty"`
	Method    string    `json:"method,omitempty"`
	// Query is the statement text, cut at the configured maximum length (QueryTruncated says so)
	// and with literals masked when the config asks for it.
	Query            string `json:"query,omitempty"`
	QueryTruncated   bool   `json:"query_truncated,omitempty"`
	QueryFingerprint string `json:"query_fingerprint,omitempty"`

	Event Meta `json:"event"`

	// The endpoints and network are left out only when zero: a record that belongs to no
	// connection (loss), so that no consumer indexes an empty IP address.
	Source      Endpoint `json:"source,omitzero"`
	Destination Endpoint `json:"destination,omitzero"`
	Client      Endpoint `json:"client,omitzero"`
	Server      Endpoint `json:"server,omitzero"`
	Network     Network  `json:"network,omitzero"`

	User  *User  `json:"user,omitempty"`
	DB    *DB    `json:"db,omitempty"`
	TLS   *TLS   `json:"tls,omitempty"`
	Error *Error `json:"error,omitempty"`

	// MongoDB is filled for MongoDB events.
	MongoDB *MongoDB `json:"mongodb,omitempty"`

	MySQL *MySQL `json:"mysql,omitempty"`
	PgSQL *PgSQL `json:"pgsql,omitempty"`
	Redis *Redis `json:"redis,omitempty"`
	HTTP  *HTTP  `json:"http,omitempty"`
	// URL and UserAgent are filled for HTTP events.
	URL       *URL       `json:"url,omitempty"`
	UserAgent *UserAgent `json:"user_agent,omitempty"`
	// RPC is filled for gRPC calls (HTTP/2 with content-type application/grpc).
	RPC  *RPC  `json:"rpc,omitempty"`
	Flow *Flow `json:"flow,omitempty"`
	DNS  *DNS  `json:"dns,omitempty"`
	Loss *Loss `json:"loss,omitempty"`

	// ExportTruncated marks an event the exporter cut down to fit the message size limit.
	ExportTruncated *Truncated `json:"export_truncated,omitempty"`

	// Kubernetes is shared by every event of a pod and must not be modified.
	Kubernetes *Kubernetes `json:"kubernetes,omitempty"`

	// pooled marks an event from New, which Release recycles; spare holds the protocol part
	// that NewRedis hands out (the part of most events, in a Redis-heavy capture); part is
	// what a parser allocated for this event alone (Own), recycled with it.
	pooled bool
	part   Part
	spare  struct{ redis Redis }
}

// Meta is ECS `event.*`.
type Meta struct {
	Kind     string `json:"kind"`               // "event", or "metric" for flow reports
	Category string `json:"category,omitempty"` // "database", "network"
	Dataset  string `json:"dataset,omitempty"`  // same as Type
	// Duration is nanoseconds from the first byte of the request to the last byte of the
	// response.
	Duration int64     `json:"duration"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitzero"`
}

// Endpoint is ECS source/destination/client/server. Bytes counts payload bytes of the
// transaction (or flow) sent by that side.
type Endpoint struct {
	IP      netip.Addr `json:"ip"`
	Port    uint16     `json:"port"`
	Bytes   uint64     `json:"bytes"`
	Packets uint64     `json:"packets,omitempty"`
}

// Network is ECS `network.*`.
type Network struct {
	Type        string `json:"type"`      // ipv4, ipv6
	Transport   string `json:"transport"` // tcp, udp
	Protocol    string `json:"protocol,omitempty"`
	CommunityID string `json:"community_id"`
	// Interface is the capture interface the connection was seen on.
	Interface string `json:"interface,omitempty"`
	Bytes     uint64 `json:"bytes,omitempty"`
	// Mesh is true when the transaction was seen on lo between a service-mesh proxy and the
	// application: the plaintext leg of a connection that is encrypted on the pod's network.
	Mesh bool `json:"mesh,omitempty"`
}

// User is ECS `user.*`.
type User struct {
	Name string `json:"name"`
}

// DB names the database a statement ran in (`db.name`), taken from the handshake or startup
// message, or from a later COM_INIT_DB.
type DB struct {
	Name string `json:"name"`
}

// TLS marks a connection that switched to TLS: what follows cannot be audited.
type TLS struct {
	// Requested is true when the client asked the server for TLS (MySQL SSL request,
	// PostgreSQL SSLRequest).
	Requested bool `json:"requested"`
	// Encrypted is true on the one tls event of a connection that carries TLS.
	Encrypted bool `json:"encrypted,omitempty"`
	// The handshake's metadata (type: tls events; see tls.go). Each is present only when
	// the capture showed it.
	Version         string     `json:"version,omitempty"`
	VersionProtocol string     `json:"version_protocol,omitempty"`
	Cipher          string     `json:"cipher,omitempty"`
	NextProtocol    string     `json:"next_protocol,omitempty"`
	Established     *bool      `json:"established,omitempty"`
	Resumed         *bool      `json:"resumed,omitempty"`
	Client          *TLSClient `json:"client,omitempty"`
	Server          *TLSServer `json:"server,omitempty"`
}

// Error is ECS `error.*`, used for decode problems that are reported rather than guessed at.
type Error struct {
	Message string `json:"message"`
}

// MySQL holds `mysql.*`.
type MySQL struct {
	AffectedRows uint64 `json:"affected_rows"`
	InsertID     uint64 `json:"insert_id"`
	NumRows      uint64 `json:"num_rows"`
	NumFields    uint64 `json:"num_fields"`
	ErrorCode    uint16 `json:"error_code,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
	// SQLState is the five-character state of an ERR packet, when the server sent one.
	SQLState string `json:"sql_state,omitempty"`
	// StatementID is the server's id of a prepared statement (COM_STMT_*).
	StatementID uint32 `json:"statement_id,omitempty"`
}

// PgSQL holds `pgsql.*`.
type PgSQL struct {
	NumRows       uint64 `json:"num_rows"`
	NumFields     uint64 `json:"num_fields"`
	ErrorCode     string `json:"error_code,omitempty"` // SQLSTATE
	ErrorMessage  string `json:"error_message,omitempty"`
	ErrorSeverity string `json:"error_severity,omitempty"`
	// Statement and Portal name the prepared statement and portal of an extended-protocol
	// Execute; empty for the unnamed ones.
	Statement string `json:"statement,omitempty"`
	Portal    string `json:"portal,omitempty"`
}

// Redis holds `redis.*`.
type Redis struct {
	// ReturnValue summarises the reply: a simple string, an integer, a bulk string, or an
	// aggregate as "[a, b]" / "{k: v}"; values are cut (see docs/protocols-redis-http.md).
	ReturnValue string `json:"return_value,omitempty"`
	// Error is the message of an error reply.
	Error string `json:"error,omitempty"`
}

// HTTP holds ECS `http.*`.
type HTTP struct {
	Version  string        `json:"version,omitempty"` // "1.1", "1.0", "2"
	Request  HTTPRequest   `json:"request"`
	Response *HTTPResponse `json:"response,omitempty"`
	// HeadersIncomplete marks an HTTP/2 stream whose header blocks referred to HPACK table
	// entries that were never captured (capture began mid-connection, or after a gap): only
	// the fields that decoded with certainty are filled.
	HeadersIncomplete bool `json:"headers_incomplete,omitempty"`
}

// HTTPRequest is `http.request.*`. Bytes counts the whole request (head and body) on the wire.
type HTTPRequest struct {
	Method string `json:"method"`
	Bytes  uint64 `json:"bytes"`
	// Headers holds the configured headers only, by lower-case name; several values are joined
	// with ", ". Authorization, Cookie and Set-Cookie values are always redacted.
	Headers map[string]string `json:"headers,omitempty"`
	Body    *HTTPBody         `json:"body,omitempty"`
}

// HTTPResponse is `http.response.*`.
type HTTPResponse struct {
	StatusCode   int               `json:"status_code"`
	StatusPhrase string            `json:"status_phrase,omitempty"`
	Bytes        uint64            `json:"bytes"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         *HTTPBody         `json:"body,omitempty"`
}

// HTTPBody is `http.*.body.*`: the body size after transfer decoding, and its beginning when
// the config asks for bodies.
type HTTPBody struct {
	Bytes   uint64 `json:"bytes"`
	Content string `json:"content,omitempty"`
}

// URL is ECS `url.*` of an HTTP request.
type URL struct {
	// Original is the request target exactly as sent.
	Original string `json:"original"`
	Path     string `json:"path,omitempty"`
	Query    string `json:"query,omitempty"`
	// Domain is the host of the Host header (or of an absolute target), without the port.
	Domain string `json:"domain,omitempty"`
	Port   uint16 `json:"port,omitempty"`
}

// UserAgent is ECS `user_agent.*`.
type UserAgent struct {
	Original string `json:"original"`
}

// Flow holds `flow.*` of a flow report. Bytes and packets per direction are in
// Source/Destination (source = the side that opened the connection).
type Flow struct {
	ID    string `json:"id"`
	Final bool   `json:"final"`
	// Retransmissions and Gaps count, per direction, segments seen again and byte ranges that
	// were never captured.
	Retransmissions Directional `json:"retransmissions"`
	Gaps            Directional `json:"gaps"`
	GapBytes        Directional `json:"gap_bytes"`
}

// Directional is a pair of counters, one per direction.
type Directional struct {
	Source      uint64 `json:"source"`
	Destination uint64 `json:"destination"`
}

// Kubernetes is `kubernetes.*`: the identity of the audited pod.
type Kubernetes struct {
	Namespace string            `json:"namespace,omitempty"`
	Pod       Pod               `json:"pod"`
	Node      Node              `json:"node"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Pod is `kubernetes.pod.*`.
type Pod struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// Node is `kubernetes.node.*`.
type Node struct {
	Name string `json:"name,omitempty"`
}

// Loss is `loss.*` of a `type: loss` event: how many events of each type the exporter dropped
// between event.start (first drop) and event.end (last drop).
type Loss struct {
	// Events counts the dropped events by their `type`.
	Events map[string]uint64 `json:"events"`
	Total  uint64            `json:"total"`
	// Reason is queue_full (the bounded queue overflowed) or shutdown (the flush deadline
	// passed with events still unacknowledged).
	Reason string `json:"reason"`
}

// Truncated is `export_truncated.*`: the event was larger than the exporter's message limit and
// lost the fields listed in Dropped (query text is cut rather than dropped when that suffices).
type Truncated struct {
	OriginalBytes int      `json:"original_bytes"`
	Dropped       []string `json:"dropped,omitempty"`
}

// MongoDB holds `mongodb.*` of a MongoDB command.
type MongoDB struct {
	// Collection is the collection the command names (find, insert, getMore's collection, ...).
	Collection string `json:"collection,omitempty"`
	// NumDocs counts the documents the reply returned: a cursor's firstBatch or nextBatch,
	// or an OP_REPLY's documents.
	NumDocs uint64 `json:"num_docs"`
	// CursorID is the cursor the reply left open, or the one a getMore or killCursors names.
	CursorID int64 `json:"cursor_id,omitempty"`
	// ErrorCode, ErrorCodeName and ErrorMessage come from a reply with ok: 0, or from its first
	// write error or write concern error.
	ErrorCode     int32  `json:"error_code,omitempty"`
	ErrorCodeName string `json:"error_code_name,omitempty"`
	ErrorMessage  string `json:"error_message,omitempty"`
}
