// Package protocols holds the contract between TCP reassembly and the protocol parsers
// (protocols/mysql, protocols/pgsql, ...), and the helpers every parser uses to build events.
//
// The chain is: source -> decode -> reassembly -> StreamParser -> Sink -> exporter.
// Reassembly runs on one goroutine per capture pipeline and calls every method of a
// StreamParser from that goroutine, so a parser needs no locking.
package protocols

import (
	"net/netip"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/capture/sqlnorm"
)

// Dir is the direction of bytes on a connection.
type Dir uint8

const (
	// ToServer is client-to-server: requests.
	ToServer Dir = iota
	// ToClient is server-to-client: responses.
	ToClient
)

func (d Dir) String() string {
	if d == ToServer {
		return "to-server"
	}
	return "to-client"
}

// Conn describes one connection. The pipeline fills it before the first call to the parser and
// never changes it afterwards; the parser may keep the pointer.
type Conn struct {
	Client, Server netip.AddrPort
	// Transport is "tcp" or "udp".
	Transport string
	// CommunityID is the Community ID v1 flow hash (network.community_id).
	CommunityID string
	// Interface is the interface the connection was captured on.
	Interface string
	// MidStream is true when capture began after the connection was opened: the first Data of
	// each direction may start in the middle of a message, and the handshake was not seen.
	MidStream bool
}

// Sink receives finished events. Emit is called from the reassembly goroutine, once per event.
//
// Ownership: ev belongs to the sink from the call on, and the parser must not touch it (nor
// keep a pointer to it) after Emit. A sink that passes ev on to another sink gives it away in
// turn and must not use it after that call returns. The sink that ends ev's life, an exporter
// once it has encoded ev, may give it back with event.Release for protocols.NewEvent to reuse,
// with the part the parser gave ev alone (event.Own). What else ev's pointer fields point to is
// never reused, so a parser may share those between events (a connection's User and DB). A sink
// that keeps events, as tests do, never releases.
type Sink interface {
	Emit(ev *event.Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ev *event.Event)

// Emit calls f(ev).
func (f SinkFunc) Emit(ev *event.Event) { f(ev) }

// StreamParser decodes one TCP connection, both directions. All methods are called from the
// reassembly goroutine, in capture order.
type StreamParser interface {
	// Data delivers in-order bytes of direction dir. They continue exactly where the previous
	// Data or Gap of that direction ended. ts is the capture time of the packet that carried
	// them. data is only valid during the call: a parser that needs bytes later copies them.
	Data(dir Dir, data []byte, ts time.Time)
	// Gap says that n bytes of direction dir were never captured. The next Data starts after
	// them. A parser resynchronises on the next message it can recognise and never invents the
	// missing bytes.
	Gap(dir Dir, n int, ts time.Time)
	// Close ends the connection (FIN, RST, idle timeout or end of the capture): the parser
	// emits what it can still say about open transactions. Called exactly once; no call
	// follows it.
	Close(ts time.Time)
}

// Factory makes the parser of one connection.
type Factory func(c *Conn, opts *Options, sink Sink) StreamParser

// DatagramParser decodes the UDP datagrams of one protocol seen by one pipeline, from every
// pair of endpoints: there is no connection to hang state on, so the parser keeps its own
// bounded table of open requests and expires it on Tick. All methods are called from the
// pipeline's goroutine, in capture order.
type DatagramParser interface {
	// Datagram delivers the payload of one datagram from src to dst. payload is only valid
	// during the call. The parser decides which side is the client from the content.
	Datagram(src, dst netip.AddrPort, payload []byte, ts time.Time)
	// Tick runs timers at now: requests older than the transaction timeout end as errors.
	Tick(now time.Time)
	// Close ends the capture: every open request is emitted. No call follows it.
	Close(now time.Time)
}

// DatagramFactory makes the datagram parser of one protocol for a pipeline capturing on iface.
type DatagramFactory func(iface string, opts *Options, sink Sink) DatagramParser

// Detector says whether first, the first bytes seen in direction dir of a TCP connection,
// open a conversation of its protocol. It must be strict: a false positive hands a connection
// of another protocol to the wrong parser. first may be cut anywhere.
type Detector func(first []byte, dir Dir) bool

// Options are the settings every parser honours. The zero value keeps full, unmasked queries.
type Options struct {
	// MaxQueryLength cuts longer statement text and marks the event query_truncated; 0 means
	// no limit.
	MaxQueryLength int
	// MaskLiterals replaces literal values in statement text with `?`.
	MaskLiterals bool
	// MaxMessageBytes bounds how many bytes of one protocol message a parser buffers (a row
	// or a statement). Larger messages are skipped (their size is still counted); 0 means
	// DefaultMaxMessageBytes.
	MaxMessageBytes int
	// HTTPHeaders names the HTTP headers (any case) copied into http.request.headers and
	// http.response.headers. Empty: none. Authorization, Cookie and Set-Cookie are redacted.
	HTTPHeaders []string
	// HTTPBodyBytes is how many bytes of each HTTP body go into body.content; 0: none.
	HTTPBodyBytes int
	// TransactionTimeout is how long a request waits for its response before it is reported
	// with status Error (datagram protocols; a TCP connection ends its open requests when it
	// closes). 0 means DefaultTransactionTimeout.
	TransactionTimeout time.Duration
	// Upgrade makes the parser of the TLS that follows an in-protocol request for it (MySQL's
	// SSL request, PostgreSQL's SSLRequest): the rest of the connection goes to it. nil: that
	// TLS is not reported. Set by the capture wiring when TLS events are on.
	Upgrade Factory
}

// DefaultTransactionTimeout is the default TransactionTimeout.
const DefaultTransactionTimeout = 10 * time.Second

// Timeout is the effective TransactionTimeout.
func (o *Options) Timeout() time.Duration {
	if o == nil || o.TransactionTimeout <= 0 {
		return DefaultTransactionTimeout
	}
	return o.TransactionTimeout
}

// DefaultMaxMessageBytes bounds what one parser buffers for a single message by default.
const DefaultMaxMessageBytes = 1 << 20

// MessageLimit is the effective MaxMessageBytes.
func (o *Options) MessageLimit() int {
	if o == nil || o.MaxMessageBytes <= 0 {
		return DefaultMaxMessageBytes
	}
	return o.MaxMessageBytes
}

// NewEvent starts the event of a transaction of type typ on c that began at start: the
// endpoints, network fields and timing are filled in; the parser adds the rest and calls
// Finish when the response is complete.
func NewEvent(c *Conn, typ string, start time.Time) *event.Event {
	ev := event.New()
	ev.Timestamp = start
	ev.Type = typ
	ev.Event = event.Meta{
		Kind:     "event",
		Category: category(typ),
		Dataset:  typ,
		Start:    start,
	}
	ev.Source = event.Endpoint{IP: c.Client.Addr(), Port: c.Client.Port()}
	ev.Destination = event.Endpoint{IP: c.Server.Addr(), Port: c.Server.Port()}
	ev.Client, ev.Server = ev.Source, ev.Destination
	ev.Network = event.Network{
		Type:        ipType(c.Client.Addr()),
		Transport:   c.Transport,
		Protocol:    typ,
		CommunityID: c.CommunityID,
		Interface:   c.Interface,
	}
	return ev
}

// Finish sets the end time, duration and byte counts (request bytes sent by the client,
// response bytes sent by the server) of ev.
func Finish(ev *event.Event, end time.Time, reqBytes, respBytes uint64) {
	ev.Event.End = end
	if d := end.Sub(ev.Event.Start); d > 0 {
		ev.Event.Duration = int64(d)
	}
	ev.Client.Bytes, ev.Source.Bytes = reqBytes, reqBytes
	ev.Server.Bytes, ev.Destination.Bytes = respBytes, respBytes
	ev.Network.Bytes = reqBytes + respBytes
}

// SetQuery records statement text on ev, applying opts: the fingerprint is taken from the full
// text, then literals are masked if asked, then the text is cut at MaxQueryLength (on a UTF-8
// boundary). method is set to the upper-cased first keyword when the caller left it empty.
func SetQuery(ev *event.Event, text string, opts *Options) {
	if text == "" {
		return
	}
	ev.QueryFingerprint = sqlnorm.Fingerprint(text)
	if ev.Method == "" {
		ev.Method = sqlnorm.Verb(text)
	}
	if opts != nil && opts.MaskLiterals {
		text = sqlnorm.Mask(text)
	}
	if opts != nil && opts.MaxQueryLength > 0 && len(text) > opts.MaxQueryLength {
		text = sqlnorm.Truncate(text, opts.MaxQueryLength)
		ev.QueryTruncated = true
	}
	ev.Query = text
}

func category(typ string) string {
	switch typ {
	case event.TypeMySQL, event.TypePgSQL, event.TypeRedis:
		return "database"
	case event.TypeMongoDB:
		return "database"
	case event.TypeHTTP:
		return "web"
	default:
		return "network"
	}
}

func ipType(a netip.Addr) string {
	if a.Is4() || a.Is4In6() {
		return "ipv4"
	}
	return "ipv6"
}
