package realnet

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// RedisOptions configures StartRedis. The zero value is ready to use.
type RedisOptions struct {
	// Port to listen on in the peer namespace. Default 6379.
	Port int
}

// Redis is a redis-server running in the peer namespace of a pair, listening on the peer's
// IPv4 and IPv6 addresses, without persistence and without a password.
type Redis struct {
	Endpoint

	pair       *Pair
	cli, bench string
	proc       *proc
}

// StartRedis runs redis-server in the peer namespace and waits until it answers a PING sent
// from the host through the namespace (the probe connections are made before any capture
// starts). It takes well under a second.
func StartRedis(t TB, pair *Pair, opts RedisOptions) *Redis {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = 6379
	}
	server := lookPath(t, "redis-server")
	r := &Redis{
		Endpoint: newEndpoint(pair, opts.Port),
		pair:     pair, cli: lookPath(t, "redis-cli"), bench: lookPath(t, "redis-benchmark"),
	}
	dir := shortTempDir(t, "rn-redis-")
	start := time.Now()
	r.proc = startProc(t, "redis-server", pair.Exec(pair.PeerNS, server,
		"--port", strconv.Itoa(opts.Port), "--bind", pair.PeerIP.String()+" "+pair.PeerIP6.String(),
		"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "no", "--daemonize", "no",
		"--loglevel", "warning"), syscall.SIGTERM)
	err := waitUntil(t.Context(), 15*time.Second, 50*time.Millisecond, r.proc, func(ctx context.Context) error {
		c, err := pair.Dial(ctx, "tcp", r.Addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return err
		}
		buf := make([]byte, 16)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "+PONG\r\n" {
			return fmt.Errorf("redis ping: %q %w", buf[:n], err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("realnet: redis-server: %v\n%s", err, tail(r.proc.log.String(), 4000))
	}
	t.Logf("realnet: redis-server on %s: start %v", r.Addr, time.Since(start).Round(time.Millisecond))
	return r
}

// CLI runs redis-cli in the pod namespace against the server with args, with stdin as its
// standard input, and returns its standard output. The error includes standard error.
func (r *Redis) CLI(stdin string, args ...string) (string, error) {
	full := append([]string{"-h", r.pair.PeerIP.String(), "-p", strconv.Itoa(r.Port)}, args...)
	return runWithInput("redis-cli", r.pair.Exec(r.pair.PodNS, r.cli, full...), stdin, time.Minute)
}

// Benchmark runs redis-benchmark in the pod namespace against the server with args.
func (r *Redis) Benchmark(args ...string) (string, error) {
	full := append([]string{"-h", r.pair.PeerIP.String(), "-p", strconv.Itoa(r.Port)}, args...)
	return runWithInput("redis-benchmark", r.pair.Exec(r.pair.PodNS, r.bench, full...), "", time.Minute)
}

// Command starts redis-cli in the pod namespace with args, for clients that stay connected
// (SUBSCRIBE); the caller waits for it or kills it.
func (r *Redis) Command(args ...string) *exec.Cmd {
	full := append([]string{"-h", r.pair.PeerIP.String(), "-p", strconv.Itoa(r.Port)}, args...)
	return r.pair.Exec(r.pair.PodNS, r.cli, full...)
}

// Dial opens a raw TCP connection from the pod namespace to the server.
func (r *Redis) Dial(ctx context.Context) (net.Conn, error) { return r.pair.Dial(ctx, "tcp", r.Addr) }
