package realnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// FerretDBOptions configures StartFerretDB. The zero value is ready to use.
type FerretDBOptions struct {
	// Port to listen on in the peer namespace. Default 27017.
	Port int
}

// FerretDB is a FerretDB server (the MongoDB wire protocol on its SQLite backend, no other
// server) running in the peer namespace of a pair, without authentication checks: FerretDB
// 1.24 on SQLite accepts any PLAIN credentials.
type FerretDB struct {
	Endpoint

	pair *Pair
	proc *proc
}

// FerretDBBinary returns bin/ferretdb of the repository (built by `make ferretdb`,
// hack/build-ferretdb.sh), found by walking up from the working directory to the directory
// holding PROJECT; it skips the test when the binary is missing.
func FerretDBBinary(t TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("realnet: %v", err)
	}
	for range 8 {
		if _, err := os.Stat(filepath.Join(dir, "PROJECT")); err == nil {
			return lookPath(t, filepath.Join(dir, "bin", "ferretdb"))
		}
		dir = filepath.Dir(dir)
	}
	return lookPath(t, "ferretdb")
}

// StartFerretDB runs bin/ferretdb in the peer namespace with its SQLite backend in a temporary
// directory and waits until it answers a TCP connection from the pod namespace. It takes about
// a second.
func StartFerretDB(t TB, pair *Pair, opts FerretDBOptions) *FerretDB {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = 27017
	}
	bin := FerretDBBinary(t)
	f := &FerretDB{Endpoint: newEndpoint(pair, opts.Port), pair: pair}
	dir := shortTempDir(t, "rn-ferretdb-")
	start := time.Now()
	f.proc = startProc(t, "ferretdb", pair.Exec(pair.PeerNS, bin,
		"--handler=sqlite", "--sqlite-url=file:"+dir+"/", "--state-dir="+dir,
		"--listen-addr="+net.JoinHostPort(pair.PeerIP.String(), strconv.Itoa(opts.Port)),
		"--telemetry=disable", "--log-level=error"), syscall.SIGTERM)
	err := waitUntil(t.Context(), 20*time.Second, 50*time.Millisecond, f.proc, func(ctx context.Context) error {
		c, err := pair.Dial(ctx, "tcp", f.Addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		t.Fatalf("realnet: ferretdb: %v\n%s", err, tail(f.proc.log.String(), 4000))
	}
	t.Logf("realnet: ferretdb on %s: start %v", f.Addr, time.Since(start).Round(time.Millisecond))
	return f
}

// Python runs a python3 script (Debian's, which has python3-pymongo) in the pod namespace with
// args, and returns its standard output; the error includes standard error.
func (f *FerretDB) Python(script string, args ...string) (string, error) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	full := append([]string{"-c", script}, args...)
	out, err := runWithInput("python3", f.pair.Exec(f.pair.PodNS, py, full...), "", 2*time.Minute)
	if err != nil {
		return out, fmt.Errorf("pymongo client: %w", err)
	}
	return out, nil
}

// Dial opens a raw TCP connection from the pod namespace to the server.
func (f *FerretDB) Dial(ctx context.Context) (net.Conn, error) {
	return f.pair.Dial(ctx, "tcp", f.Addr)
}
