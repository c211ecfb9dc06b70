package realnet

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// dialSeq numbers the dialers registered with the mysql driver, whose registry is global.
var dialSeq atomic.Int64

// Config returns a go-sql-driver/mysql config for the app user that dials from the pod
// namespace, without TLS and with server-side prepared statements (InterpolateParams off), so
// that COM_STMT_PREPARE and COM_STMT_EXECUTE go on the wire. Tests may change it before use.
func (m *MariaDB) Config() *mysql.Config {
	name := fmt.Sprintf("realnet-%d-%d", os.Getpid(), dialSeq.Add(1))
	mysql.RegisterDialContext(name, func(ctx context.Context, addr string) (net.Conn, error) {
		return m.pair.Dial(ctx, "tcp", addr)
	})
	cfg := mysql.NewConfig()
	cfg.Net, cfg.Addr = name, m.Addr
	cfg.User, cfg.Passwd, cfg.DBName = m.User, m.Password, m.Database
	cfg.TLSConfig = "false"
	cfg.AllowNativePasswords = true
	cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout = 5*time.Second, time.Minute, time.Minute
	return cfg
}

// OpenDB opens a *sql.DB on Config, closed in a Cleanup.
func (m *MariaDB) OpenDB(t TB) *sql.DB {
	t.Helper()
	conn, err := mysql.NewConnector(m.Config())
	if err != nil {
		t.Fatalf("realnet: mysql connector: %v", err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// ConnConfig returns a pgx config for the app user that dials from the pod namespace with
// sslmode=disable. Tests may change it, for example DefaultQueryExecMode, before use.
func (p *Postgres) ConnConfig(t TB) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(p.DSN())
	if err != nil {
		t.Fatalf("realnet: pgx config: %v", err)
	}
	cfg.DialFunc = p.pair.Dial
	cfg.ConnectTimeout = 5 * time.Second
	return cfg
}

// Connect opens a pgx connection on ConnConfig, closed in a Cleanup.
func (p *Postgres) Connect(t TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.ConnectConfig(t.Context(), p.ConnConfig(t))
	if err != nil {
		t.Fatalf("realnet: pgx connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(t.Context()) })
	return conn
}

// OpenDB opens a *sql.DB through pgx's stdlib adapter on ConnConfig, closed in a Cleanup.
func (p *Postgres) OpenDB(t TB) *sql.DB {
	t.Helper()
	db := stdlib.OpenDB(*p.ConnConfig(t))
	t.Cleanup(func() { _ = db.Close() })
	return db
}
