package realnet_test

import (
	"database/sql"
	"net/netip"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"

	"github.com/audit-io/wire-audit/test/realnet"
)

func TestMariaDB(t *testing.T) {
	t.Parallel()
	p := realnet.NewPair(t)
	m := realnet.StartMariaDB(t, p, realnet.MariaDBOptions{})

	t.Run("cli", func(t *testing.T) {
		out, err := m.RunClient("CREATE TABLE t (id INT PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'one'); SELECT v, CURRENT_USER() FROM t;")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.TrimSpace(out), "one\tapp@%"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if _, err := m.RunClient("SELECT * FROM no_such_table"); err == nil || !strings.Contains(err.Error(), "1146") {
			t.Errorf("error for a missing table = %v, want one with code 1146", err)
		}
	})
	t.Run("admin", func(t *testing.T) {
		// mysql_native_password keeps the handshake's scramble and auth response readable.
		out, err := m.RunAdmin("SELECT plugin FROM mysql.user WHERE user = 'app'")
		if got, want := strings.TrimSpace(out), "mysql_native_password"; err != nil || got != want {
			t.Errorf("app authenticates with %q (%v), want %q", got, err, want)
		}
	})
	for _, tc := range []struct {
		name, addr string
		want       netip.Addr
	}{{"driver v4", m.Addr, p.PodIP}, {"driver v6", m.Addr6, p.PodIP6}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := m.Config()
			cfg.Addr = tc.addr
			conn, err := mysql.NewConnector(cfg)
			if err != nil {
				t.Fatal(err)
			}
			db := sql.OpenDB(conn)
			defer db.Close()
			var host, echoed string
			// A parameter, so the driver sends COM_STMT_PREPARE and COM_STMT_EXECUTE.
			if err := db.QueryRowContext(t.Context(), "SELECT SUBSTRING_INDEX(USER(), '@', -1), ? FROM DUAL", "x").Scan(&host, &echoed); err != nil {
				t.Fatal(err)
			}
			if echoed != "x" {
				t.Errorf("echoed parameter = %q, want %q", echoed, "x")
			}
			if host != tc.want.String() {
				t.Errorf("server saw the client at %q, want the pod address %v", host, tc.want)
			}
		})
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{"scram-sha-256", "md5"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			testPostgres(t, auth)
		})
	}
}

func testPostgres(t *testing.T, auth string) {
	p := realnet.NewPair(t)
	pg := realnet.StartPostgres(t, p, realnet.PostgresOptions{Auth: auth})

	t.Run("cli", func(t *testing.T) {
		out, err := pg.RunClient("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'one'); SELECT v, current_user, inet_client_addr() FROM t;")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.TrimSpace(out), "one|app|"+p.PodIP.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if _, err := pg.RunClient("SELECT * FROM no_such_table"); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("error for a missing table = %v, want one saying it does not exist", err)
		}
	})
	t.Run("admin", func(t *testing.T) {
		out, err := pg.RunAdmin("audit", "SELECT CASE WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram-sha-256' "+
			"WHEN rolpassword LIKE 'md5%' THEN 'md5' END FROM pg_authid WHERE rolname = 'app'")
		if err != nil || out != auth {
			t.Errorf("app's password is stored for %q (%v), want %q", out, err, auth)
		}
	})
	for _, tc := range []struct {
		name string
		host netip.Addr
		want netip.Addr
	}{{"pgx v4", p.PeerIP, p.PodIP}, {"pgx v6", p.PeerIP6, p.PodIP6}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pg.ConnConfig(t)
			cfg.Host = tc.host.String()
			conn, err := pgx.ConnectConfig(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(t.Context())
			var addr string
			if err := conn.QueryRow(t.Context(), "SELECT host(inet_client_addr()) WHERE $1::int = 1", 1).Scan(&addr); err != nil {
				t.Fatal(err)
			}
			if addr != tc.want.String() {
				t.Errorf("server saw the client at %q, want the pod address %v", addr, tc.want)
			}
		})
	}
	t.Run("database/sql", func(t *testing.T) {
		var n int
		if err := pg.OpenDB(t).QueryRowContext(t.Context(), "SELECT count(*) FROM pg_stat_ssl WHERE ssl").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d connections use TLS, want none", n)
		}
	})
}
