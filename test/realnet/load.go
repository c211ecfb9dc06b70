package realnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LoadOptions configures CaptureLoad. Only Dir is required.
type LoadOptions struct {
	// Dir receives <protocol>-load.pcap files. A file is written under a temporary
	// name and renamed when complete, so a failed run leaves no partial file behind.
	Dir string
	// Packets is the least number of packets each file holds. Default 600000.
	Packets int
	// Protocols to capture, of "pgsql", "mysql", "redis" (redis-benchmark -P 16), "redis-rr"
	// (redis-benchmark, one command per round trip), "http", "dns" (lookups over UDP
	// against dnsmasq), "grpc" (unary calls over HTTP/2) and "mongodb" (Go-driver inserts and
	// finds against FerretDB). Default pgsql and mysql.
	Protocols []string
	// Clients is the number of concurrent client connections. Default 4.
	Clients int
	// Scale is pgbench's scale factor (100000 accounts each). Default 1: initialisation takes
	// a second instead of many, and the clients then queue on the one branch row, which
	// changes the timing on the wire but not the packets.
	Scale int
	// MaxRounds bounds the load rounds per protocol. Default 30, enough for 1.5M packets.
	MaxRounds int
	// DisableOffloads captures MTU-sized packets instead of the veth's GSO super-packets.
	DisableOffloads bool
	// H2Peer is the test/h2peer binary, which "grpc" needs (a grpc-go server and load
	// client; a module of its own, so the caller builds it).
	H2Peer string
}

// LoadCapture describes one file written by CaptureLoad.
type LoadCapture struct {
	Protocol      string
	File          string
	Stats         PcapStats
	KernelDropped int // as tcpdump reported it
	Rounds        int
	Duration      time.Duration // of the load, from tcpdump start to stop
}

// loadRound runs one round of load with about n transactions and reports any error.
type loadRound func(round, n int) error

// loadProtocol is how one protocol's load is generated.
type loadProtocol struct {
	port   int
	filter string // tcpdump filter; default "tcp port <port>"
	first  int    // transactions in the first round, from which the rest are sized
	most   int    // transactions in a round at most, so that later rounds vary too
	round  loadRound
}

// CaptureLoad starts MariaDB and PostgreSQL in a new pair, and for each protocol captures on
// the pod veth while pgbench (TPC-B-like, rotating the simple, extended and prepared query
// protocols) or mariadb-slap (mixed auto-generated inserts and key lookups; --detach would
// reconnect after about a dozen statements whatever its value, so it is not used)
// run in rounds from the pod namespace, until the capture holds opts.Packets packets. Rounds
// end cleanly, so every connection in the file is complete.
func CaptureLoad(t TB, opts LoadOptions) []LoadCapture {
	t.Helper()
	if opts.Dir == "" {
		t.Fatalf("realnet: CaptureLoad needs a directory")
	}
	if opts.Packets == 0 {
		opts.Packets = 600000
	}
	if len(opts.Protocols) == 0 {
		opts.Protocols = []string{"pgsql", "mysql"}
	}
	if opts.Clients == 0 {
		opts.Clients = 4
	}
	if opts.Scale == 0 {
		opts.Scale = 1
	}
	if opts.MaxRounds == 0 {
		opts.MaxRounds = 30
	}
	pair := NewPair(t)
	if opts.DisableOffloads {
		pair.DisableOffloads(t)
	}
	var out []LoadCapture
	for _, proto := range opts.Protocols {
		start := time.Now()
		var lp loadProtocol
		switch proto {
		case "pgsql":
			lp = pgbenchLoad(t, pair, opts.Clients, opts.Scale)
		case "mysql":
			lp = slapLoad(t, pair, opts.Clients)
		case "dns":
			lp = dnsLoad(t, pair, opts.Clients)
		case "redis":
			lp = redisLoad(t, pair, opts.Clients, 16)
		case "redis-rr":
			lp = redisLoad(t, pair, opts.Clients, 1)
		case "http":
			lp = httpLoad(t, pair, opts.Clients)
		case "grpc":
			lp = grpcLoad(t, pair, opts.Clients, opts.H2Peer)
		case "mongodb":
			lp = mongoLoad(t, pair, opts.Clients)
		default:
			t.Fatalf("realnet: no load for protocol %q", proto)
		}
		t.Logf("realnet: %s server ready for load in %v", proto, time.Since(start).Round(time.Millisecond))
		out = append(out, captureRounds(t, pair, proto, lp, opts))
	}
	return out
}

// captureRounds runs rounds of lp under tcpdump until the file holds opts.Packets packets.
func captureRounds(t TB, pair *Pair, proto string, lp loadProtocol, opts LoadOptions) LoadCapture {
	t.Helper()
	final := filepath.Join(opts.Dir, proto+"-load.pcap")
	// A name of its own per process, so that two runs at once (make bench beside another
	// make target) cannot write into one file.
	tmp := fmt.Sprintf("%s.%d.tmp", final, os.Getpid())
	t.Cleanup(func() { _ = os.Remove(tmp) })
	c := LoadCapture{Protocol: proto, File: final}
	start := time.Now()
	filter := lp.filter
	if filter == "" {
		filter = "tcp port " + strconv.Itoa(lp.port)
	}
	dump := StartTcpdump(t, pair, pair.PodNS, pair.PodIf, tmp, filter)
	n := lp.first
	for c.Rounds < opts.MaxRounds {
		if err := t.Context().Err(); err != nil {
			t.Fatalf("realnet: %s load: %v", proto, err)
		}
		if err := lp.round(c.Rounds, n); err != nil {
			t.Fatalf("realnet: %s load round %d: %v", proto, c.Rounds, err)
		}
		c.Rounds++
		// The last block of packets waits in tcpdump's ring until it times out.
		time.Sleep(ringTimeout)
		st, err := ReadPcapStats(tmp)
		if err != nil {
			t.Fatalf("realnet: %v", err)
		}
		if st.Packets >= opts.Packets {
			break
		}
		// Size the next round to finish the job with 10% to spare, from the rate seen so far.
		perTxn := float64(st.Packets) / float64(n*c.Rounds)
		n = max(lp.first, min(int(float64(opts.Packets-st.Packets)*1.1/max(perTxn, 1)), lp.most))
	}
	stats, err := dump.Stop()
	if err != nil {
		t.Fatalf("realnet: %v", err)
	}
	c.Duration, c.KernelDropped = time.Since(start), stats.KernelDropped
	if c.Stats, err = ReadPcapStats(tmp); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	if c.Stats.Packets < opts.Packets {
		t.Fatalf("realnet: %s: %d packets after %d rounds, want %d", proto, c.Stats.Packets, c.Rounds, opts.Packets)
	}
	if err := os.Rename(tmp, final); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	return c
}

// pgbenchLoad starts PostgreSQL and initialises the pgbench tables before any capture, so that
// the capture holds the transactions only.
func pgbenchLoad(t TB, pair *Pair, clients, scale int) loadProtocol {
	t.Helper()
	pgbench := lookPath(t, append(pgPaths("pgbench"), "pgbench")...)
	pg := StartPostgres(t, pair, PostgresOptions{})
	run := func(args ...string) error {
		cmd := pair.Exec(pair.PodNS, pgbench, append(append([]string{
			"--host=" + pair.PeerIP.String(), "--port=" + strconv.Itoa(pg.Port), "--username=" + pg.User}, args...), pg.Database)...)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+pg.Password, "PGSSLMODE=disable")
		_, err := runWithInput("pgbench", cmd, "", 10*time.Minute)
		return err
	}
	// Steps dtgp: no VACUUM, which the load does not need (it runs with --no-vacuum).
	if err := run("--initialize", "--init-steps=dtgp", "--quiet", "--scale="+strconv.Itoa(scale)); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	modes := []string{"simple", "extended", "prepared"}
	return loadProtocol{port: pg.Port, first: 1000, most: 10000, round: func(round, n int) error {
		return run("--no-vacuum", "--client="+strconv.Itoa(clients), "--jobs=2",
			"--transactions="+strconv.Itoa(max(1, n/clients)), "--protocol="+modes[round%len(modes)])
	}}
}

// slapLoad starts MariaDB and lets the app user use the schema mariadb-slap creates and drops.
func slapLoad(t TB, pair *Pair, clients int) loadProtocol {
	t.Helper()
	slap := lookPath(t, "mariadb-slap", "mysqlslap")
	m := StartMariaDB(t, pair, MariaDBOptions{})
	const schema = "slap"
	if _, err := m.RunAdmin(fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%%'", schema, User)); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	return loadProtocol{port: m.Port, first: 5000, most: 60000, round: func(_, n int) error {
		cmd := pair.Exec(pair.PodNS, slap, "--no-defaults", "--skip-ssl", "--protocol=tcp",
			"--host="+pair.PeerIP.String(), "--port="+strconv.Itoa(m.Port),
			"--user="+m.User, "--password="+m.Password, "--create-schema="+schema,
			"--concurrency="+strconv.Itoa(clients), "--iterations=1", "--number-of-queries="+strconv.Itoa(n),
			"--auto-generate-sql", "--auto-generate-sql-load-type=mixed", "--auto-generate-sql-add-autoincrement",
			"--silent")
		_, err := runWithInput("mariadb-slap", cmd, "", 10*time.Minute)
		return err
	}}
}

// redisLoad starts redis-server; a round is redis-benchmark pipelining pipeline commands per
// write (1: one request and its reply at a time, as most application clients do) over
// clients connections, for SET, GET, LPUSH and INCR (n commands in all).
func redisLoad(t TB, pair *Pair, clients, pipeline int) loadProtocol {
	t.Helper()
	r := StartRedis(t, pair, RedisOptions{})
	// A request and its reply take about two packets unpipelined, an eighth of that at -P 16.
	first, most := 200000, 2000000
	if pipeline == 1 {
		first, most = 30000, 400000
	}
	return loadProtocol{port: r.Port, first: first, most: most, round: func(_, n int) error {
		_, err := r.Benchmark("-c", strconv.Itoa(clients), "-n", strconv.Itoa(max(1, n/4)), "-P", strconv.Itoa(pipeline),
			"-t", "set,get,lpush,incr", "-q")
		return err
	}}
}

// httpLoad starts nginx; a round is clients curl processes, each fetching its share of n URLs
// over one keep-alive connection: mostly a small page, every 20th a gzip-compressed (chunked)
// text and every 20th a 404.
func httpLoad(t TB, pair *Pair, clients int) loadProtocol {
	t.Helper()
	n := StartNginx(t, pair, NginxOptions{Files: map[string]string{
		"a.html": "<p>a</p>\n", "big.txt": strings.Repeat("a line of compressible text\n", 500),
	}})
	dir := shortTempDir(t, "rn-curl-")
	return loadProtocol{port: n.Port, first: 4000, most: 100000, round: func(round, total int) error {
		per := max(1, total/clients)
		var urls strings.Builder
		for i := range per {
			path := "/a.html"
			switch i % 20 {
			case 7:
				path = "/big.txt"
			case 13:
				path = "/missing"
			}
			fmt.Fprintf(&urls, "url = %q\n", n.URL(path))
		}
		cfg := filepath.Join(dir, fmt.Sprintf("urls-%d", round))
		if err := os.WriteFile(cfg, []byte(urls.String()), 0o600); err != nil {
			return err
		}
		errs := make(chan error, clients)
		for range clients {
			go func() {
				_, err := n.Curl("--compressed", "-o", "/dev/null", "-K", cfg)
				errs <- err
			}()
		}
		var err error
		for range clients {
			err = errors.Join(err, <-errs)
		}
		return err
	}}
}

// GRPCPort is where grpcLoad's server listens.
const GRPCPort = 50051

// grpcLoad starts test/h2peer's grpc-go server; a round is h2peer's load client making n
// unary calls over clients connections (HTTP/2, one call after another on each).
func grpcLoad(t TB, pair *Pair, clients int, h2peer string) loadProtocol {
	t.Helper()
	if h2peer == "" {
		t.Fatalf("realnet: grpc load needs the h2peer binary")
	}
	addr := net.JoinHostPort(pair.PeerIP.String(), strconv.Itoa(GRPCPort))
	srv := startProc(t, "h2peer", pair.Exec(pair.PeerNS, h2peer, "grpc-server", addr), syscall.SIGTERM)
	err := waitUntil(t.Context(), 15*time.Second, 50*time.Millisecond, srv, func(ctx context.Context) error {
		c, err := pair.Dial(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatalf("realnet: grpc server: %v", err)
	}
	return loadProtocol{port: GRPCPort, first: 5000, most: 100000, round: func(_, n int) error {
		_, err := runWithInput("h2peer", pair.Exec(pair.PodNS, h2peer, "grpc-load", addr, strconv.Itoa(n), strconv.Itoa(clients)), "", 10*time.Minute)
		return err
	}}
}
