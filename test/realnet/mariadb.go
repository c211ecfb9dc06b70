package realnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// MariaDBOptions configures StartMariaDB. The zero value is ready to use.
type MariaDBOptions struct {
	// Port to listen on in the peer namespace. Default 3306.
	Port int
	// Args are extra mariadbd flags, such as "--max-allowed-packet=64M".
	Args []string
}

// MariaDB is a mariadbd running in the peer namespace of a pair, listening on the peer's IPv4
// and IPv6 addresses, with plain-text connections only (no TLS is configured).
type MariaDB struct {
	Endpoint
	Socket string // unix socket, where root can log in without a password

	pair   *Pair
	client string
	proc   *proc
}

// mariadbTemplate is the data directory that mariadb-install-db makes, shared by servers.
var mariadbTemplate template

// StartMariaDB initialises a data directory, runs mariadbd as root in the peer namespace and
// waits until the app user can run a query from the pod namespace. It takes about two seconds.
func StartMariaDB(t TB, pair *Pair, opts MariaDBOptions) *MariaDB {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = 3306
	}
	server := lookPath(t, "mariadbd", "mysqld", "/usr/sbin/mariadbd")
	installDB := lookPath(t, "mariadb-install-db", "mysql_install_db")
	m := &MariaDB{
		Endpoint: newEndpoint(pair, opts.Port),
		pair:     pair, client: lookPath(t, "mariadb", "mysql"),
	}
	dir := shortTempDir(t, "rn-my-")
	data := filepath.Join(dir, "data")
	m.Socket = filepath.Join(dir, "sock")

	start := time.Now()
	err := mariadbTemplate.copyTo(t, data, func(tmpl string) error {
		// A private tmpdir: every mariadbd deletes the #sql* files in its tmpdir at start
		// (mysql_rm_tmp_tables), so with a shared /tmp a server starting in another test
		// package removed this bootstrap's temporary tables, and the install failed with
		// "Could not remove temporary table".
		tmp := filepath.Join(filepath.Dir(tmpl), "tmp")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return err
		}
		install := exec.Command(installDB, "--no-defaults", "--user=root", "--datadir="+tmpl, "--tmpdir="+tmp,
			"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=16M", "--skip-name-resolve",
			"--auth-root-authentication-method=normal", "--skip-test-db")
		if out, err := install.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", installDB, err, tail(string(out), 4000))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("realnet: %v", err)
	}
	installed := time.Now()
	// The init file runs before the server accepts connections, so when the app user can log
	// in the database and grants exist.
	initSQL := fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s;\n"+
		"CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s');\n"+
		"GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%%';\n", Database, User, Password, Database, User)
	initFile := filepath.Join(dir, "init.sql")
	if err := os.WriteFile(initFile, []byte(initSQL), 0o600); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	args := []string{"--no-defaults", "--user=root", "--datadir=" + data, "--tmpdir=" + tmp,
		"--bind-address=*", "--port=" + strconv.Itoa(opts.Port), "--socket=" + m.Socket,
		"--pid-file=" + filepath.Join(dir, "pid"), "--init-file=" + initFile, "--log-error=",
		"--skip-name-resolve", "--skip-log-bin", "--performance-schema=OFF", "--skip-ssl",
		// Small InnoDB files and pool start fast; the log size must match the template's.
		"--innodb-log-file-size=8M", "--innodb-buffer-pool-size=16M",
		// The data is thrown away: no fsync per commit, which made mariadb-slap's inserts crawl.
		"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0"}
	args = append(args, opts.Args...)
	m.proc = startProc(t, "mariadbd", pair.Exec(pair.PeerNS, server, args...), syscall.SIGTERM)

	ctx := t.Context()
	db := m.OpenDB(t)
	err = waitUntil(ctx, 30*time.Second, 50*time.Millisecond, m.proc, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return db.QueryRowContext(ctx, "SELECT 1").Err()
	})
	if err != nil {
		t.Fatalf("realnet: mariadbd: %v\n%s", err, tail(m.proc.log.String(), 4000))
	}
	_ = db.Close() // no idle connection left behind to show up in captures
	t.Logf("realnet: mariadbd on %s: data directory %v, start %v", m.Addr,
		installed.Sub(start).Round(time.Millisecond), time.Since(installed).Round(time.Millisecond))
	return m
}

// RunClient runs the mariadb command-line client in the pod namespace as the app user over TCP
// without TLS, with sql on its standard input, and returns its standard output (tab-separated,
// no column names). The error includes standard error.
func (m *MariaDB) RunClient(sql string) (string, error) {
	return m.RunClientVia(m.pair.PeerIP.String(), m.Port, sql)
}

// RunClientVia is RunClient connecting to host:port instead, such as a proxy in the pod
// namespace that forwards to the server.
func (m *MariaDB) RunClientVia(host string, port int, sql string) (string, error) {
	cmd := m.pair.Exec(m.pair.PodNS, m.client, "--no-defaults", "--skip-ssl", "--batch", "--skip-column-names",
		"--host="+host, "--port="+strconv.Itoa(port),
		"--user="+m.User, "--password="+m.Password, "--database="+m.Database)
	return runWithInput("mariadb", cmd, sql, time.Minute)
}

// RunAdmin runs the mariadb client as root over the unix socket, outside the namespaces, so
// that setup (such as grants or SET GLOBAL) does not appear in captures of the veth.
func (m *MariaDB) RunAdmin(sql string) (string, error) {
	cmd := exec.Command(m.client, "--no-defaults", "--batch", "--skip-column-names",
		"--socket="+m.Socket, "--user=root")
	return runWithInput("mariadb", cmd, sql, time.Minute)
}
