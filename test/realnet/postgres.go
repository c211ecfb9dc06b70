package realnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/audit-io/wire-audit/internal/testenv"
)

// pgBinDirs are where Debian's postgresql packages put initdb and postgres, newest first.
var pgBinDirs = []string{"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"}

// PostgresOptions configures StartPostgres. The zero value is ready to use.
type PostgresOptions struct {
	// Port to listen on in the peer namespace. Default 5432.
	Port int
	// Auth is the pg_hba method for host connections from the pair: "scram-sha-256" (default)
	// or "md5", whose exchange shows a salted hash on the wire.
	Auth string
	// Settings are extra server settings, name to value, passed as -c name=value.
	Settings map[string]string
}

// Postgres is a postgres server running as the postgres system user in the peer namespace of a
// pair, listening on the peer's IPv4 and IPv6 addresses, with ssl=off.
type Postgres struct {
	Endpoint
	SocketDir string // unix socket directory, where postgres can log in without a password

	pair *Pair
	bin  string // directory of the server binaries
	psql string
	proc *proc
}

// postgresTemplate is the data directory that initdb makes, shared by servers.
var postgresTemplate template

// StartPostgres runs initdb and postgres as the postgres user (postgres refuses root), waits
// until the server accepts connections, and creates the app user and its database. It takes
// about two seconds.
func StartPostgres(t TB, pair *Pair, opts PostgresOptions) *Postgres {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = 5432
	}
	if opts.Auth == "" {
		opts.Auth = "scram-sha-256"
	}
	p := &Postgres{
		Endpoint: newEndpoint(pair, opts.Port),
		pair:     pair, psql: lookPath(t, append(pgPaths("psql"), "psql")...),
	}
	p.bin = filepath.Dir(lookPath(t, pgPaths("postgres")...))
	setpriv := lookPath(t, "setpriv")
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		testenv.Missing(t, "realnet: no postgres system user: %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	asPostgres := []string{setpriv, "--reuid=" + pgUser.Uid, "--regid=" + pgUser.Gid, "--init-groups", "--"}

	dir := shortTempDir(t, "rn-pg-")
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	p.SocketDir = dir
	data := filepath.Join(dir, "data")
	start := time.Now()
	// pg_hba.conf is written below, so one template serves every auth method.
	err = postgresTemplate.copyTo(t, data, func(tmpl string) error {
		if err := os.Chown(filepath.Dir(tmpl), uid, gid); err != nil {
			return err
		}
		initdb := exec.Command(asPostgres[0], append(slices.Clone(asPostgres[1:]), filepath.Join(p.bin, "initdb"),
			"--pgdata="+tmpl, "--username=postgres", "--auth=trust",
			"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")...)
		if out, err := initdb.CombinedOutput(); err != nil {
			return fmt.Errorf("initdb: %w\n%s", err, tail(string(out), 4000))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("realnet: %v", err)
	}
	initialised := time.Now()
	hba := fmt.Sprintf("local all all trust\nhost all all %s/%d %s\nhost all all %s/%d %s\n",
		pair.PodIP, prefixLen4, opts.Auth, pair.PodIP6, prefixLen6, opts.Auth)
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	settings := map[string]string{
		"listen_addresses":        pair.PeerIP.String() + "," + pair.PeerIP6.String(),
		"port":                    strconv.Itoa(opts.Port),
		"unix_socket_directories": dir,
		"ssl":                     "off",
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"shared_buffers":          "32MB",
		"max_connections":         "100",
		"password_encryption":     "scram-sha-256",
	}
	if opts.Auth == "md5" {
		// md5 auth needs an md5 password hash; scram-sha-256 accepts either.
		settings["password_encryption"] = "md5"
	}
	for k, v := range opts.Settings {
		settings[k] = v
	}
	args := append(slices.Clone(asPostgres[1:]), filepath.Join(p.bin, "postgres"), "-D", data)
	for k, v := range settings {
		args = append(args, "-c", k+"="+v)
	}
	// SIGQUIT is immediate shutdown: the data is thrown away, so there is nothing to flush.
	p.proc = startProc(t, "postgres", pair.Exec(pair.PeerNS, asPostgres[0], args...), syscall.SIGQUIT)

	setup := fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s';\nCREATE DATABASE %s OWNER %s;\n", User, Password, Database, User)
	err = waitUntil(t.Context(), 30*time.Second, 50*time.Millisecond, p.proc, func(context.Context) error {
		_, err := p.RunAdmin("postgres", "SELECT 1")
		return err
	})
	if err == nil {
		_, err = p.RunAdmin("postgres", setup)
	}
	if err != nil {
		t.Fatalf("realnet: postgres: %v\n%s", err, tail(p.proc.log.String(), 4000))
	}
	t.Logf("realnet: postgres on %s: data directory %v, start %v", p.Addr,
		initialised.Sub(start).Round(time.Millisecond), time.Since(initialised).Round(time.Millisecond))
	return p
}

// pgPaths lists where name may be in the server's version directories. They come before PATH,
// where Debian has pg_wrapper, which picks a version by its own rules.
func pgPaths(name string) []string {
	paths := []string{}
	for _, d := range pgBinDirs {
		paths = append(paths, filepath.Join(d, name))
	}
	return paths
}

// DSN is a libpq connection string for the app user over TCP to the peer, with sslmode=disable.
func (p *Postgres) DSN() string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable",
		p.pair.PeerIP, p.Port, p.User, p.Password, p.Database)
}

// RunClient runs psql in the pod namespace as the app user over TCP without TLS, with sql on
// its standard input, stopping at the first error, and returns its standard output (unaligned,
// tuples only, "|" between columns). The error includes standard error.
func (p *Postgres) RunClient(sql string) (string, error) {
	cmd := p.pair.Exec(p.pair.PodNS, p.psql, "--no-psqlrc", "--no-align", "--tuples-only", "--quiet",
		"--set=ON_ERROR_STOP=1", p.DSN())
	cmd.Env = append(os.Environ(), "PGPASSWORD="+p.Password, "PGSSLMODE=disable")
	return runWithInput("psql", cmd, sql, time.Minute)
}

// RunAdmin runs psql as the postgres superuser on database db over the unix socket, outside the
// namespaces, so that setup does not appear in captures of the veth.
func (p *Postgres) RunAdmin(db, sql string) (string, error) {
	cmd := exec.Command(p.psql, "--no-psqlrc", "--no-align", "--tuples-only", "--quiet", "--set=ON_ERROR_STOP=1",
		"--host="+p.SocketDir, "--port="+strconv.Itoa(p.Port), "--username=postgres", "--dbname="+db)
	out, err := runWithInput("psql", cmd, sql, time.Minute)
	return strings.TrimSpace(out), err
}
