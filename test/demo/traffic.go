package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/audit-io/wire-audit/test/realnet"
)

// servers are the real servers in the peer namespace.
type servers struct {
	db    *realnet.MariaDB
	pg    *realnet.Postgres
	redis *realnet.Redis
	web   *realnet.Nginx
	dns   *realnet.Dnsmasq
	steps []clientStep
}

// clientStep is one client run of a round: what it says, and how it is run from the pod
// namespace. A step with wantErr ends with a statement that fails on purpose, so its client
// exits non-zero.
type clientStep struct {
	client, says string
	wantErr      bool
	run          func(round int) error
}

// startServers starts the five servers side by side, each as the tests do (test/realnet).
func startServers(t realnet.TB, pair *realnet.Pair) *servers {
	s := &servers{}
	var wg sync.WaitGroup
	// A Fatalf in one of these ends only its goroutine; the error is kept, and the check
	// below ends the demo with it.
	wg.Go(func() { s.db = realnet.StartMariaDB(t, pair, realnet.MariaDBOptions{}) })
	wg.Go(func() { s.pg = realnet.StartPostgres(t, pair, realnet.PostgresOptions{}) })
	wg.Go(func() { s.redis = realnet.StartRedis(t, pair, realnet.RedisOptions{}) })
	wg.Go(func() {
		s.web = realnet.StartNginx(t, pair, realnet.NginxOptions{Files: map[string]string{
			"menu.json": `{"espresso": 2.5, "flat white": 3.2}` + "\n",
		}})
	})
	wg.Go(func() { s.dns = realnet.StartDnsmasq(t, pair, realnet.DnsmasqOptions{}) })
	wg.Wait()
	if s.db == nil || s.pg == nil || s.redis == nil || s.web == nil || s.dns == nil {
		t.Fatalf("a server did not start")
	}
	s.steps = s.script()
	return s
}

// script is what the app in the pod does each round: a few statements, commands, requests and
// lookups, each ending with one that fails, so that errors show too.
func (s *servers) script() []clientStep {
	const mysqlSQL = `CREATE TABLE IF NOT EXISTS orders (id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(64), qty INT);
INSERT INTO orders (item, qty) VALUES ('espresso', 2);
SELECT item, qty FROM orders ORDER BY id DESC LIMIT 3;
UPDATE orders SET qty = qty + 1 WHERE item = 'espresso';
SELECT * FROM no_such_table;`
	const pgSQL = `CREATE TABLE IF NOT EXISTS payments (id serial PRIMARY KEY, order_ref text, cents int);
INSERT INTO payments (order_ref, cents) VALUES ('A-1001', 500);
SELECT order_ref, cents FROM payments ORDER BY id DESC LIMIT 3;
SELECT cents / 0 FROM payments;`
	const redisCmds = "SET cart:42 espresso\nGET cart:42\nINCR visits\nINCR cart:42\n"
	return []clientStep{
		{client: "mariadb", says: oneLine(mysqlSQL), wantErr: true, run: func(int) error {
			_, err := s.db.RunClient(mysqlSQL)
			return err
		}},
		{client: "psql", says: oneLine(pgSQL), wantErr: true, run: func(int) error {
			_, err := s.pg.RunClient(pgSQL)
			return err
		}},
		{client: "redis-cli", says: strings.ReplaceAll(strings.TrimSpace(redisCmds), "\n", "; ") + " (not an integer: an error)", run: func(int) error {
			_, err := s.redis.CLI(redisCmds)
			return err
		}},
		{client: "curl", says: "GET /menu.json; GET /admin (404); PUT /upload/receipt-<round>.txt", run: func(round int) error {
			if _, err := s.web.Curl("-o", "/dev/null", "-o", "/dev/null", s.web.URL("/menu.json"), s.web.URL("/admin")); err != nil {
				return err
			}
			_, err := s.web.Curl("-o", "/dev/null", "-X", "PUT", "--data-binary", "table 4: 2 espresso", s.web.URL(fmt.Sprintf("/upload/receipt-%d.txt", round)))
			return err
		}},
		{client: "dig", says: fmt.Sprintf("%s A; %s TXT; nope.%s A (NXDOMAIN)", realnet.DNSHostName, realnet.DNSTXTName, realnet.DNSZone), run: func(int) error {
			for _, q := range [][2]string{{realnet.DNSHostName, "A"}, {realnet.DNSTXTName, "TXT"}, {"nope." + realnet.DNSZone, "A"}} {
				if _, err := s.dns.Dig(q[0], q[1]); err != nil {
					return err
				}
			}
			return nil
		}},
	}
}

// roundEvery is how often a round starts: slow enough to read the events as they come.
const roundEvery = 2 * time.Second

// describe prints the script.
func (s *servers) describe(d *demo) {
	d.printf("    every %s, from the pod namespace to the peer:\n", roundEvery)
	for _, st := range s.steps {
		d.printf("      %-9s %s\n", st.client, st.says)
	}
}

// drive runs rounds of the script until dur has passed (one round at least), and returns how
// many it ran. A client that fails other than on purpose is reported once, not fatal: the events
// show what happened.
func (s *servers) drive(ctx context.Context, d *demo, dur time.Duration) int {
	end := time.Now().Add(dur)
	reported := map[string]bool{}
	rounds := 0
	for {
		begin := time.Now()
		rounds++
		for _, st := range s.steps {
			err := st.run(rounds)
			if (err != nil) != st.wantErr && !reported[st.client] {
				reported[st.client] = true
				d.printf("    (%s: unexpected result: %v)\n", st.client, err)
			}
		}
		next := begin.Add(roundEvery)
		if !next.Before(end) {
			next = end
		}
		select {
		case <-ctx.Done():
			return rounds
		case <-time.After(time.Until(next)):
		}
		if !time.Now().Before(end) {
			return rounds
		}
	}
}

// oneLine folds a script into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
