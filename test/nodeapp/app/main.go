// Command app is the application container of the audited pods of the node test and the demo:
// a small static client that makes rounds of MySQL, PostgreSQL, Redis, HTTP and DNS
// transactions against the real servers on the node's address, each tagged with its pod's
// name, and prints one line per transaction ("tx <type> <status> <method> <query>"), then
// "done". -rounds 1 (the test) makes one round; -rounds 0 (the demo) one every -interval until
// SIGTERM. A Job's pod exits then; a Deployment's pod keeps running (-exit=false), as an
// application would.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"golang.org/x/net/dns/dnsmessage"
)

func main() {
	server := flag.String("server", "", "IP address of the servers (required)")
	tag := flag.String("tag", os.Getenv("POD_NAME"), "Tag put in every transaction (default $POD_NAME)")
	user := flag.String("user", "app", "Database user")
	password := flag.String("password", "secret", "Database password")
	database := flag.String("database", "audit", "Database name")
	dnsName := flag.String("dns-name", "", "A name the DNS server answers")
	dnsZone := flag.String("dns-zone", "", "The DNS server's zone, for a name that does not exist")
	exit := flag.Bool("exit", true, "Exit after the rounds; false: keep running until SIGTERM")
	rounds := flag.Int("rounds", 1, "Rounds of transactions; 0: one every -interval until SIGTERM")
	interval := flag.Duration("interval", time.Second, "Time between the starts of two rounds")
	flag.Parse()
	if *server == "" || *tag == "" || *dnsName == "" || *dnsZone == "" {
		fmt.Fprintln(os.Stderr, "app: -server, -tag (or POD_NAME), -dns-name and -dns-zone are required")
		os.Exit(2)
	}
	if err := checkRounds(*rounds, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	next := time.Now()
	for n := 1; *rounds == 0 || n <= *rounds; n++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := round(ctx, *server, *tag, *user, *password, *database, *dnsName, *dnsZone)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "app:", err)
			os.Exit(1)
		}
		if *rounds != 0 && n == *rounds {
			break
		}
		next = next.Add(*interval)
		select {
		case <-sig:
			fmt.Println("done")
			return
		case <-time.After(time.Until(next)):
		}
	}
	fmt.Println("done")
	if !*exit {
		<-sig
	}
}

// checkRounds refuses a negative -rounds and an -interval that is not positive.
func checkRounds(rounds int, interval time.Duration) error {
	var errs []error
	if rounds < 0 {
		errs = append(errs, fmt.Errorf("-rounds %d: must be 0 (until SIGTERM) or more", rounds))
	}
	if interval <= 0 {
		errs = append(errs, fmt.Errorf("-interval %s: must be positive", interval))
	}
	return errors.Join(errs...)
}

func tx(typ, status, method, query string) {
	fmt.Println(strings.TrimSpace(strings.Join([]string{"tx", typ, status, method, query}, " ")))
}

func round(ctx context.Context, server, tag, user, password, database, dnsName, dnsZone string) error {
	q := fmt.Sprintf("SELECT '%s' AS pod", tag)

	// MySQL: the text protocol (COM_QUERY), then COM_QUIT when the connection closes.
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName, cfg.Net, cfg.Addr = user, password, database, "tcp", net.JoinHostPort(server, "3306")
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	var got string
	if err := db.QueryRowContext(ctx, q).Scan(&got); err != nil || got != tag {
		return fmt.Errorf("mysql: %q %w", got, err)
	}
	tx("mysql", "OK", "SELECT", q)
	if err := db.Close(); err != nil {
		return err
	}
	tx("mysql", "OK", "QUIT", "")

	// PostgreSQL: the simple query protocol.
	pc, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable&default_query_exec_mode=simple_protocol",
		user, password, net.JoinHostPort(server, "5432"), database))
	if err != nil {
		return fmt.Errorf("pgsql: %w", err)
	}
	if err := pc.QueryRow(ctx, q).Scan(&got); err != nil || got != tag {
		return fmt.Errorf("pgsql: %q %w", got, err)
	}
	tx("pgsql", "OK", "SELECT", q)
	if err := pc.Close(ctx); err != nil {
		return err
	}

	// Redis: one SET in RESP.
	var d net.Dialer
	rc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(server, "6379"))
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	fmt.Fprintf(rc, "*3\r\n$3\r\nSET\r\n$3\r\npod\r\n$%d\r\n%s\r\n", len(tag), tag)
	line, err := bufio.NewReader(rc).ReadString('\n')
	rc.Close()
	if err != nil || line != "+OK\r\n" {
		return fmt.Errorf("redis: %q %w", line, err)
	}
	tx("redis", "OK", "SET", "SET pod "+tag)

	// HTTP/1.1.
	path := "/hello.txt?pod=" + tag
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+server+path, nil)
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "hello" {
		return fmt.Errorf("http: %s %q", resp.Status, body)
	}
	tx("http", "OK", "GET", "GET "+path)

	// DNS over UDP: a name that exists, and one that does not.
	for _, c := range []struct {
		name   string
		rcode  dnsmessage.RCode
		status string
	}{{dnsName, dnsmessage.RCodeSuccess, "OK"}, {tag + "." + dnsZone, dnsmessage.RCodeNameError, "Error"}} {
		if err := dnsQuery(ctx, server, c.name, c.rcode); err != nil {
			return err
		}
		tx("dns", c.status, "QUERY", "class IN, type A, "+c.name)
	}
	return nil
}

func dnsQuery(ctx context.Context, server, name string, want dnsmessage.RCode) error {
	msg := dnsmessage.Message{
		Header: dnsmessage.Header{ID: uint16(time.Now().UnixNano()), RecursionDesired: true},
		Questions: []dnsmessage.Question{{
			Name: dnsmessage.MustNewName(name + "."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET,
		}},
	}
	wire, err := msg.Pack()
	if err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", net.JoinHostPort(server, "53"))
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(wire); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return fmt.Errorf("dns %s: %w", name, err)
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil {
		return err
	}
	if h.ID != msg.ID || h.RCode != want {
		return errors.New("dns " + name + ": rcode " + h.RCode.String() + ", want " + want.String())
	}
	return nil
}
