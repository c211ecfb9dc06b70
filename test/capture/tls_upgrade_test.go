package capture_test

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/realnet"
)

const upgradeConfig = `{"version":1,"protocols":[{"name":"mysql","ports":[3306]},{"name":"pgsql","ports":[5432]},{"name":"tls"}],"flows":false,"kafka":{"topic":"t"},"healthPort":15099}`

// TestTLSUpgrades: psql with sslmode=require against PostgreSQL with ssl=on, and the mariadb
// client with --ssl against MariaDB with a certificate, captured live. The SSL request is
// reported by the database parser as before, and the TLS after it by a tls event with
// tls.requested, the handshake's fields, and the same SNI/JA3/JA3S/cipher as tshark (which
// follows the same switch in its MySQL and PostgreSQL dissectors).
func TestTLSUpgrades(t *testing.T) {
	pair := realnet.NewPair(t)
	dir := t.TempDir()
	tlsCerts(t, dir)
	// postgres reads its key as the postgres user, and refuses a key others can read.
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		testenv.Missing(t, "no postgres user (Debian package postgresql): %v", err)
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	pgDir := filepath.Join(dir, "pg")
	if err := os.Mkdir(pgDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"chain.pem", "leaf.key"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pgDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(pgDir, f), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(pgDir, uid, gid); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parents must let the postgres user through to pgDir.
	for d := pgDir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 && d != pgDir {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
	pg := realnet.StartPostgres(t, pair, realnet.PostgresOptions{Settings: map[string]string{
		"ssl": "on", "ssl_cert_file": pgDir + "/chain.pem", "ssl_key_file": pgDir + "/leaf.key",
	}})
	my := realnet.StartMariaDB(t, pair, realnet.MariaDBOptions{Args: []string{
		"--ssl", "--ssl-cert=" + dir + "/chain.pem", "--ssl-key=" + dir + "/leaf.key", "--ssl-ca=" + dir + "/root.pem",
	}})
	pcap := filepath.Join(t.TempDir(), "upgrade.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, pair.PodIf, pcap, "tcp port 3306 or tcp port 5432")
	sc := startSidecar(t, pair, upgradeConfig)

	psql, err := exec.LookPath("psql")
	if err != nil {
		testenv.Missing(t, "no psql (Debian package postgresql-client): %v", err)
	}
	cmd := pair.Exec(pair.PodNS, psql, "--no-psqlrc", "-tAc", "SELECT 41+1",
		fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=require", realnet.PeerIP, pg.Port, pg.User, pg.Password, pg.Database))
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "42" {
		t.Fatalf("psql sslmode=require: %v %s", err, out)
	}
	mariadb, err := exec.LookPath("mariadb")
	if err != nil {
		testenv.Missing(t, "no mariadb client (Debian package mariadb-client): %v", err)
	}
	cmd = pair.Exec(pair.PodNS, mariadb, "--no-defaults", "-h", realnet.PeerIP.String(), "-P", strconv.Itoa(my.Port),
		"-u"+my.User, "-p"+my.Password, "--ssl", "--ssl-ca="+dir+"/root.pem", "-D", my.Database, "-e", "SELECT 41+1")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "42") {
		t.Fatalf("mariadb --ssl: %v %s", err, out)
	}
	time.Sleep(200 * time.Millisecond)
	live := sc.stop(t)
	stopOracle(t, dump)

	tlsEvs := transactions(live, event.TypeTLS)
	byPort := map[uint16]event.Event{}
	for _, ev := range tlsEvs {
		byPort[ev.Server.Port] = ev
	}
	if len(tlsEvs) != 2 || len(byPort) != 2 {
		for _, ev := range live {
			t.Logf("%s", event.AppendJSON(nil, &ev))
		}
		t.Fatalf("%d tls events, want one per database", len(tlsEvs))
	}
	requested := map[string]bool{}
	for _, ev := range live {
		if (ev.Type == event.TypeMySQL || ev.Type == event.TypePgSQL) && ev.TLS != nil && ev.TLS.Requested {
			requested[ev.Type] = true
		}
	}
	if !requested[event.TypeMySQL] || !requested[event.TypePgSQL] {
		t.Errorf("the databases' SSL request events: %v", requested)
	}
	theirs := map[string]string{}
	for _, l := range tsharkFields(t, pcap, "-Y", "tls.handshake.type==1 || tls.handshake.type==2",
		"-T", "fields", "-E", "occurrence=f", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tls.handshake.type",
		"-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s") {
		f := strings.Split(l, "\t")
		for len(f) < 5 {
			f = append(f, "")
		}
		switch f[2] {
		case "1":
			theirs[f[1]+" ja3"] = f[3]
		case "2":
			theirs[f[0]+" ja3s"] = f[4]
		}
	}
	for port, ev := range byPort {
		tl := ev.TLS
		p := strconv.Itoa(int(port))
		if !tl.Requested || tl.Version == "" || tl.Cipher == "" || tl.Established == nil || !*tl.Established || ev.Status != event.StatusOK ||
			tl.Client.JA3 != theirs[p+" ja3"] || tl.Server.JA3S != theirs[p+" ja3s"] || theirs[p+" ja3"] == "" {
			t.Errorf("port %d: tshark ja3 %q ja3s %q; event %s", port, theirs[p+" ja3"], theirs[p+" ja3s"], event.AppendJSON(nil, &ev))
		}
		if tl.Version == "1.2" && tl.Server.Subject != "CN=tls.test,O=wire-audit test" {
			t.Errorf("port %d: TLS 1.2 without the server certificate: %s", port, event.AppendJSON(nil, &ev))
		}
	}
}
