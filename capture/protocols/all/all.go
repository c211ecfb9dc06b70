// Package all lists the protocol parsers built into the sidecar, by the protocol names of the
// capture config.
package all

import (
	"github.com/audit-io/wire-audit/capture/config"
	"github.com/audit-io/wire-audit/capture/protocols"
	"github.com/audit-io/wire-audit/capture/protocols/http"
	"github.com/audit-io/wire-audit/capture/protocols/mysql"
	"github.com/audit-io/wire-audit/capture/protocols/pgsql"
	"github.com/audit-io/wire-audit/capture/protocols/redis"
)

// Factories maps a config protocol name to its parser.
var Factories = map[string]protocols.Factory{
	config.MySQL: mysql.New,
	config.PgSQL: pgsql.New,
	config.Redis: redis.New,
	config.HTTP:  http.New,
}
