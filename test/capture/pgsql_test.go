package capture_test

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/realnet"
)

const pgsqlConfig = `{"version":1,"protocols":[{"name":"pgsql","ports":[5432]}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099,"privacy":{"maxQueryLength":200}}`

// TestPostgres drives a real PostgreSQL from the pod namespace with psql (simple protocol,
// COPY) and pgx (extended protocol with named prepared statements) while the sidecar captures
// live on the pod's veth and tcpdump writes a pcap of the same traffic.
func TestPostgres(t *testing.T) {
	pair := realnet.NewPair(t)
	db := realnet.StartPostgres(t, pair, realnet.PostgresOptions{})
	pcap := filepath.Join(t.TempDir(), "pgsql.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, pair.PodIf, pcap, "tcp port 5432")
	sc := startSidecar(t, pair, pgsqlConfig)

	if _, err := db.RunClient("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance int);\n" +
		"INSERT INTO accounts VALUES (1, 'ann', 100), (2, 'bob', 50);\n" +
		"SELECT id, owner FROM accounts ORDER BY id;\n" +
		"COPY accounts FROM STDIN;\n3\tcy\t10\n4\tdee\t20\n\\.\n" +
		"COPY (SELECT * FROM accounts) TO STDOUT;\n" +
		"SELECT '" + strings.Repeat("y", 300) + "' AS long_one;\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RunClient("SELECT * FROM no_such_table;\n"); err == nil {
		t.Fatal("psql did not report the missing table")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := db.Connect(t)
	if _, err := conn.Exec(ctx, "UPDATE accounts SET balance = balance + $1 WHERE id = $2", 5, 1); err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	if _, err := conn.Exec(ctx, "INSERT INTO accounts VALUES ($1, $2, $3)", 1, "dup", 0); !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("duplicate insert: %v, want 23505", err)
	}
	for id := 1; id <= 3; id++ {
		var owner string
		if err := conn.QueryRow(ctx, "SELECT owner FROM accounts WHERE id = $1", id).Scan(&owner); err != nil {
			t.Fatal(err)
		}
	}
	var big string
	if err := conn.QueryRow(ctx, "SELECT repeat('z', 2000000)").Scan(&big); err != nil || len(big) != 2000000 {
		t.Fatalf("large row: %d bytes, %v", len(big), err)
	}
	_ = conn.Close(ctx)

	live := sc.stop(t)
	stopOracle(t, dump)
	evs := transactions(live, event.TypePgSQL)
	if len(evs) == 0 {
		t.Fatalf("no pgsql events; sidecar log:\n%s", sc.stderr.String())
	}

	ins := one(t, evs, "INSERT INTO accounts VALUES (1, 'ann', 100), (2, 'bob', 50);")
	if ins.Status != event.StatusOK || ins.PgSQL.NumRows != 2 || ins.Method != "INSERT" {
		t.Errorf("insert: %s %s rows %d", ins.Status, ins.Method, ins.PgSQL.NumRows)
	}
	checkIdentity(t, ins, pair, 5432)
	if ins.User == nil || ins.User.Name != realnet.User || ins.DB == nil || ins.DB.Name != realnet.Database {
		t.Errorf("user/db from the startup message: %+v %+v", ins.User, ins.DB)
	}
	if sel := one(t, evs, "SELECT id, owner FROM accounts ORDER BY id;"); sel.PgSQL.NumRows != 2 || sel.PgSQL.NumFields != 2 {
		t.Errorf("select: rows %d fields %d", sel.PgSQL.NumRows, sel.PgSQL.NumFields)
	}
	if cp := one(t, evs, "COPY accounts FROM STDIN;"); cp.Status != event.StatusOK || cp.PgSQL.NumRows != 2 {
		t.Errorf("COPY FROM: %s rows %d", cp.Status, cp.PgSQL.NumRows)
	}
	if cp := one(t, evs, "COPY (SELECT * FROM accounts) TO STDOUT;"); cp.PgSQL.NumRows != 4 {
		t.Errorf("COPY TO: rows %d, want 4", cp.PgSQL.NumRows)
	}
	if bad := one(t, evs, "SELECT * FROM no_such_table;"); bad.Status != event.StatusError || bad.PgSQL.ErrorCode != "42P01" || bad.PgSQL.ErrorSeverity != "ERROR" {
		t.Errorf("error: %+v", bad.PgSQL)
	}
	// maxQueryLength 200 cuts the long statement and says so.
	var cut bool
	for _, ev := range evs {
		if strings.HasPrefix(ev.Query, "SELECT 'yyy") {
			cut = ev.QueryTruncated && len(ev.Query) == 200
		}
	}
	if !cut {
		t.Errorf("the 300-byte statement was not truncated to 200 bytes with query_truncated")
	}

	// Extended protocol: one event per Execute, with the text resolved through Bind and Parse.
	if got := find(evs, "SELECT owner FROM accounts WHERE id = $1"); len(got) != 3 {
		t.Errorf("%d executions of the prepared select, want 3", len(got))
	}
	if up := one(t, evs, "UPDATE accounts SET balance = balance + $1 WHERE id = $2"); up.PgSQL.NumRows != 1 || up.Method != "UPDATE" {
		t.Errorf("prepared update: rows %d method %s", up.PgSQL.NumRows, up.Method)
	}
	if dup := one(t, evs, "INSERT INTO accounts VALUES ($1, $2, $3)"); dup.Status != event.StatusError || dup.PgSQL.ErrorCode != "23505" {
		t.Errorf("prepared duplicate: %s %s", dup.Status, dup.PgSQL.ErrorCode)
	}
	if big := one(t, evs, "SELECT repeat('z', 2000000)"); big.PgSQL.NumRows != 1 || big.Server.Bytes < 2000000 {
		t.Errorf("large row: rows %d, server bytes %d", big.PgSQL.NumRows, big.Server.Bytes)
	}

	replayed := replay(t, pcap, pgsqlConfig)
	if l, r := summary(evs), summary(transactions(replayed, event.TypePgSQL)); !slices.Equal(l, r) {
		t.Errorf("live and replay differ:\nlive   %q\nreplay %q", l, r)
	}

	// tshark's statements (simple queries and Parse messages) are exactly ours, as sets: a
	// statement parsed once runs many times.
	const sep = "\x1f"
	theirs := map[string]bool{}
	for _, l := range tsharkFields(t, pcap, "-Y", `pgsql.type == "Simple query" || pgsql.type == "Parse"`,
		"-T", "fields", "-E", "aggregator="+sep, "-e", "pgsql.query") {
		for _, q := range strings.Split(l, sep) {
			theirs[trimTo(q, 200)] = true
		}
	}
	ours := map[string]bool{}
	for _, ev := range evs {
		if ev.Query != "" {
			ours[ev.Query] = true
		}
	}
	t.Logf("%d pgsql events live, %d replayed, %d distinct statements, tshark %d", len(evs), len(replayed), len(ours), len(theirs))
	if !maps.Equal(ours, theirs) {
		t.Errorf("statements differ from tshark's:\nours   %q\ntshark %q", slices.Sorted(maps.Keys(ours)), slices.Sorted(maps.Keys(theirs)))
	}
}

func trimTo(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
