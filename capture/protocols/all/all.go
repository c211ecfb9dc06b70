// Package all lists the protocol parsers built into the sidecar, by the protocol names of the
// capture config. Registering a parser, a detector or a datagram parser is one line in the
// table of its kind.
package all

import (
	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/dns"
	"github.com/audit-io/wire-audit/capture/protocols/http"
	"github.com/audit-io/wire-audit/capture/protocols/mongodb"
	"github.com/audit-io/wire-audit/capture/protocols/mysql"
	"github.com/audit-io/wire-audit/capture/protocols/pgsql"
	"github.com/audit-io/wire-audit/capture/protocols/redis"
	"github.com/audit-io/wire-audit/capture/protocols/tls"
)

// Factories maps a config protocol name to its TCP parser.
var Factories = map[string]protocols.Factory{
	config.MySQL: mysql.New,
	config.PgSQL: pgsql.New,
	config.DNS:   dns.NewTCP,
	config.Redis: redis.New,
	config.HTTP:  http.New,
	config.TLS:   tls.New,

	config.MongoDB: mongodb.New,
}

// Detectors maps a config protocol name to the test that recognises it from the first bytes
// of a TCP connection, used when the protocol is configured without ports.
var Detectors = map[string]protocols.Detector{
	config.MySQL: mysql.Detect,
	config.PgSQL: pgsql.Detect,
	config.DNS:   dns.Detect,
	config.Redis: redis.Detect,
	config.HTTP:  http.Detect,
	config.TLS:   tls.Detect,

	config.MongoDB: mongodb.Detect,
}

// Upgrades maps a config protocol name to the parser that MySQL and PostgreSQL hand a
// connection to when it switches to it in-protocol (protocols.Options.Upgrade).
var Upgrades = map[string]protocols.Factory{
	config.TLS: tls.NewUpgraded,
}

// Datagrams maps a config protocol name to its UDP parser.
var Datagrams = map[string]protocols.DatagramFactory{
	config.DNS: dns.NewUDP,
}
