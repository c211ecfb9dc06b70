package capture_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/realnet"
)

const mysqlConfig = `{"version":1,"protocols":[{"name":"mysql","ports":[3306]}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099}`

// TestMySQL drives a real MariaDB from the pod namespace with the mariadb CLI and the Go driver
// (server-side prepared statements) while the sidecar captures live on the pod's veth and
// tcpdump writes a pcap of the same traffic.
func TestMySQL(t *testing.T) {
	pair := realnet.NewPair(t)
	db := realnet.StartMariaDB(t, pair, realnet.MariaDBOptions{Args: []string{"--max-allowed-packet=64M"}})
	pcap := filepath.Join(t.TempDir(), "mysql.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, pair.PodIf, pcap, "tcp port 3306")
	sc := startSidecar(t, pair, mysqlConfig)

	// The CLI: plain COM_QUERY, a multi-row insert, a result set, an error.
	if _, err := db.RunClient("CREATE TABLE accounts (id INT PRIMARY KEY, owner VARCHAR(40), balance INT);" +
		"INSERT INTO accounts VALUES (1,'ann',100),(2,'bob',50);" +
		"SELECT id, owner, balance FROM accounts ORDER BY id;"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RunClient("SELECT * FROM no_such_table;"); err == nil {
		t.Fatal("the CLI did not report the missing table")
	}

	// The Go driver without client-side interpolation: COM_STMT_PREPARE and COM_STMT_EXECUTE.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sqldb := db.OpenDB(t)
	if _, err := sqldb.ExecContext(ctx, "INSERT INTO accounts VALUES (?, ?, ?)", 3, "cy", 10); err != nil {
		t.Fatal(err)
	}
	var me *mysql.MySQLError
	if _, err := sqldb.ExecContext(ctx, "INSERT INTO accounts VALUES (?, ?, ?)", 1, "dup", 0); !errors.As(err, &me) || me.Number != 1062 {
		t.Fatalf("duplicate insert: %v, want error 1062", err)
	}
	var owner string
	if err := sqldb.QueryRowContext(ctx, "SELECT owner FROM accounts WHERE id = ?", 2).Scan(&owner); err != nil || owner != "bob" {
		t.Fatalf("select owner: %q %v", owner, err)
	}
	// A transaction, and a 3 MB row: many TCP segments, GSO super-packets on the veth.
	tx, err := sqldb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE accounts SET balance = balance - ? WHERE id = ?", 5, 1); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	var big string
	if err := sqldb.QueryRowContext(ctx, "SELECT REPEAT('x', 3000000)").Scan(&big); err != nil || len(big) != 3000000 {
		t.Fatalf("large row: %d bytes, %v", len(big), err)
	}
	_ = sqldb.Close()

	live := sc.stop(t)
	stopOracle(t, dump)
	evs := transactions(live, event.TypeMySQL)
	if len(evs) == 0 {
		t.Fatalf("no mysql events; sidecar log:\n%s", sc.stderr.String())
	}

	ins := one(t, evs, "INSERT INTO accounts VALUES (1,'ann',100),(2,'bob',50)")
	if ins.Status != event.StatusOK || ins.MySQL.AffectedRows != 2 || ins.Method != "INSERT" {
		t.Errorf("multi-row insert: %+v %+v", ins, ins.MySQL)
	}
	checkIdentity(t, ins, pair, 3306)
	if ins.User == nil || ins.User.Name != realnet.User || ins.DB == nil || ins.DB.Name != realnet.Database {
		t.Errorf("user/db from the handshake: %+v %+v", ins.User, ins.DB)
	}
	sel := one(t, evs, "SELECT id, owner, balance FROM accounts ORDER BY id")
	if sel.MySQL.NumRows != 2 || sel.MySQL.NumFields != 3 || sel.Event.Duration <= 0 {
		t.Errorf("select: rows %d fields %d duration %d", sel.MySQL.NumRows, sel.MySQL.NumFields, sel.Event.Duration)
	}
	if bad := one(t, evs, "SELECT * FROM no_such_table"); bad.Status != event.StatusError || bad.MySQL.ErrorCode != 1146 || !strings.Contains(bad.MySQL.ErrorMessage, "no_such_table") {
		t.Errorf("error: %+v", bad.MySQL)
	}

	// Prepared statements: the EXECUTE events carry the statement text, resolved per connection.
	var execs, dups int
	for _, ev := range find(evs, "INSERT INTO accounts VALUES (?, ?, ?)") {
		if ev.Method == "PREPARE" {
			continue
		}
		execs++
		if ev.Status == event.StatusError && ev.MySQL.ErrorCode == 1062 {
			dups++
		}
	}
	if execs != 2 || dups != 1 {
		t.Errorf("prepared insert: %d executions (%d duplicates), want 2 (1)", execs, dups)
	}
	for _, q := range []string{"SELECT owner FROM accounts WHERE id = ?", "UPDATE accounts SET balance = balance - ? WHERE id = ?"} {
		var n int
		for _, ev := range find(evs, q) {
			if ev.Method != "PREPARE" && ev.Status == event.StatusOK {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%q: %d executions, want 1", q, n)
		}
	}
	var sawLarge bool
	for _, ev := range evs {
		if strings.HasPrefix(ev.Query, "SELECT REPEAT") && ev.Method != "PREPARE" {
			sawLarge = ev.MySQL.NumRows == 1 && ev.Server.Bytes > 3000000
		}
	}
	if !sawLarge {
		t.Errorf("the 3 MB row is missing or miscounted")
	}
	for _, f := range transactions(live, event.TypeFlow) {
		if f.Flow.Gaps.Source+f.Flow.Gaps.Destination != 0 {
			t.Errorf("flow %s reports gaps on a clean veth: %+v", f.Flow.ID, f.Flow.Gaps)
		}
	}

	// The same traffic replayed from tcpdump's pcap gives the same events.
	replayed := replay(t, pcap, mysqlConfig)
	if l, r := summary(evs), summary(transactions(replayed, event.TypeMySQL)); !slices.Equal(l, r) {
		t.Errorf("live and replay differ:\nlive   %q\nreplay %q", l, r)
	}

	// tshark's statements (COM_QUERY and COM_STMT_PREPARE) are exactly ours.
	const sep = "\x1f"
	var theirs []string
	for _, l := range tsharkFields(t, pcap, "-Y", "mysql.query", "-T", "fields", "-E", "aggregator="+sep, "-e", "mysql.query") {
		theirs = append(theirs, strings.Split(l, sep)...)
	}
	var ours []string
	for _, ev := range evs {
		if ev.Query != "" && (ev.MySQL.StatementID == 0 || ev.Method == "PREPARE") {
			ours = append(ours, ev.Query)
		}
	}
	slices.Sort(theirs)
	slices.Sort(ours)
	t.Logf("%d mysql events live, %d replayed, %d statements, tshark %d", len(evs), len(replayed), len(ours), len(theirs))
	if !slices.Equal(ours, theirs) {
		t.Errorf("statements differ from tshark's:\nours   %q\ntshark %q", ours, theirs)
	}
}
