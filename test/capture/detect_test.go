package capture_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/test/realnet"
)

// TestDetectByContent: MariaDB on 13306, PostgreSQL on 15433, Redis on 16379 and nginx on 8081,
// with no ports configured for any protocol, are found from their first bytes and decoded; the
// kernel filter then passes every TCP port.
func TestDetectByContent(t *testing.T) {
	pair := realnet.NewPair(t)
	db := realnet.StartMariaDB(t, pair, realnet.MariaDBOptions{Port: 13306})
	pg := realnet.StartPostgres(t, pair, realnet.PostgresOptions{Port: 15433})
	rd := realnet.StartRedis(t, pair, realnet.RedisOptions{Port: 16379})
	web := realnet.StartNginx(t, pair, realnet.NginxOptions{Port: 8081, Files: map[string]string{"/hello.txt": "hello\n"}})
	sc := startSidecar(t, pair, `{"version":1,"protocols":[{"name":"mysql"},{"name":"pgsql"},{"name":"redis"},{"name":"http"},{"name":"dns"}],"flows":true,"kafka":{"topic":"t"},"healthPort":15099}`)
	if out, err := db.RunClient("SELECT 40 + 2 AS answer;"); err != nil || strings.TrimSpace(out) != "42" {
		t.Fatalf("client: %q %v", out, err)
	}
	if _, err := db.RunClient("SELECT * FROM no_such_table;"); err == nil {
		t.Fatal("the CLI did not report the missing table")
	}
	if out, err := pg.RunClient("SELECT 20 + 1 AS half;"); err != nil || strings.TrimSpace(out) != "21" {
		t.Fatalf("psql: %q %v", out, err)
	}
	if out, err := rd.CLI("", "SET", "detected", "by-content"); err != nil || strings.TrimSpace(out) != "OK" {
		t.Fatalf("redis-cli: %q %v", out, err)
	}
	if out, err := web.Curl(web.URL("/hello.txt?from=pod")); err != nil || out != "hello\n" {
		t.Fatalf("curl: %q %v", out, err)
	}
	live := sc.stop(t)
	rdEv := one(t, transactions(live, event.TypeRedis), "SET detected by-content")
	checkIdentity(t, rdEv, pair, 16379)
	if rdEv.Status != event.StatusOK || rdEv.Method != "SET" || rdEv.Redis == nil || rdEv.Redis.ReturnValue != "OK" {
		t.Errorf("redis: status %q method %q redis %+v", rdEv.Status, rdEv.Method, rdEv.Redis)
	}
	httpEvs := transactions(live, event.TypeHTTP)
	if len(httpEvs) != 1 {
		t.Fatalf("%d http events, want 1 (curl's GET)", len(httpEvs))
	}
	checkIdentity(t, httpEvs[0], pair, 8081)
	if h := httpEvs[0]; h.URL == nil || h.URL.Original != "/hello.txt?from=pod" || h.HTTP == nil || h.HTTP.Response == nil || h.HTTP.Response.StatusCode != 200 {
		t.Errorf("http: url %+v http %+v", h.URL, h.HTTP)
	}
	pgEv := one(t, transactions(live, event.TypePgSQL), "SELECT 20 + 1 AS half;")
	checkIdentity(t, pgEv, pair, 15433)
	if pgEv.Status != event.StatusOK || pgEv.PgSQL == nil || pgEv.PgSQL.NumRows != 1 || pgEv.User == nil || pgEv.User.Name != realnet.User {
		t.Errorf("pgsql: status %q pgsql %+v user %+v", pgEv.Status, pgEv.PgSQL, pgEv.User)
	}
	evs := transactions(live, event.TypeMySQL)
	ok := one(t, evs, "SELECT 40 + 2 AS answer")
	checkIdentity(t, ok, pair, 13306)
	if ok.Status != event.StatusOK || ok.MySQL == nil || ok.MySQL.NumRows != 1 {
		t.Errorf("select: status %q mysql %+v", ok.Status, ok.MySQL)
	}
	if bad := one(t, evs, "SELECT * FROM no_such_table"); bad.Status != event.StatusError || bad.MySQL.ErrorCode != 1146 {
		t.Errorf("missing table: status %q mysql %+v", bad.Status, bad.MySQL)
	}
	if !strings.Contains(sc.stderr.String(), `"allTCP":true`) {
		t.Errorf("the kernel filter still restricts TCP ports:\n%s", sc.stderr.String())
	}
}

// TestMesh is a pod in a service mesh, in namespaces: the application (the mariadb CLI)
// talks plaintext to a local proxy on lo (127.0.0.1:15001), which carries the connection over
// TLS on eth0 to the peer, where a TLS terminator forwards to MariaDB. The sidecar, told the
// pod has a mesh, captures eth0 and lo: every statement appears exactly once, from lo, marked
// network.mesh; each TLS connection on eth0 is one tls event and nothing else. A direct
// plaintext connection on eth0 is still decoded, once, unmarked.
func TestMesh(t *testing.T) {
	pair := realnet.NewPair(t)
	db := realnet.StartMariaDB(t, pair, realnet.MariaDBOptions{})
	cert := selfSigned(t)
	// The peer's TLS terminator, in front of MariaDB.
	terminator := listenIn(t, pair.PeerNS, net.JoinHostPort(pair.PeerIP.String(), "15443"))
	forward(t, tls.NewListener(terminator, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), func() (net.Conn, error) {
		return dialIn(pair.PeerNS, "127.0.0.1:3306")
	})
	// The pod's mesh proxy on lo, originating TLS.
	proxy := listenIn(t, pair.PodNS, "127.0.0.1:15001")
	forward(t, proxy, func() (net.Conn, error) {
		c, err := dialIn(pair.PodNS, net.JoinHostPort(pair.PeerIP.String(), "15443"))
		if err != nil {
			return nil, err
		}
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test's own self-signed terminator
		return tc, tc.Handshake()
	})

	// An HTTP server on lo standing in for the proxy's own health endpoint (15021, polled by
	// the kubelet), and the application's HTTP port, which is audited.
	serveHTTPIn(t, pair.PodNS, "127.0.0.1:15021")
	serveHTTPIn(t, pair.PodNS, "127.0.0.1:8080")

	const meshConfig = `{"version":1,"mesh":"istio","protocols":[{"name":"mysql","ports":[3306]},{"name":"http"},{"name":"tls"}],"flows":false,"kafka":{"topic":"t"},"healthPort":15099}`
	// The pod's traffic on both interfaces in one pcapng file, for the replay below.
	dump := realnet.StartDumpcap(t, pair, pair.PodNS, filepath.Join(t.TempDir(), "mesh.pcapng"), pair.PodIf, "lo")
	sc := startSidecar(t, pair, meshConfig)
	viaMesh := []string{"SELECT 'through the mesh' AS via", "SELECT 6 * 7 AS product"}
	for _, q := range viaMesh {
		if _, err := db.RunClientVia("127.0.0.1", 15001, q+";"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.RunClient("SELECT 'direct' AS via;"); err != nil {
		t.Fatal(err)
	}
	getIn(t, pair.PodNS, "http://127.0.0.1:15021/healthz/ready")
	getIn(t, pair.PodNS, "http://127.0.0.1:8080/orders?id=7")
	live := sc.stop(t)
	if err := dump.Stop(); err != nil {
		t.Fatal(err)
	}

	var https []string
	for _, ev := range transactions(live, event.TypeHTTP) {
		https = append(https, fmt.Sprintf("%s %d %s mesh=%v", ev.Network.Interface, ev.Server.Port, ev.URL.Original, ev.Network.Mesh))
	}
	if want := []string{"lo 8080 /orders?id=7 mesh=true"}; !slices.Equal(https, want) {
		t.Errorf("http events on lo: %q, want %q (the proxy's health port is not audited)", https, want)
	}

	evs := transactions(live, event.TypeMySQL)
	for _, q := range viaMesh {
		ev := one(t, evs, q)
		if ev.Network.Interface != "lo" || !ev.Network.Mesh || ev.Server.Port != 15001 || ev.Status != event.StatusOK {
			t.Errorf("%q: interface %q mesh %v server port %d status %q", q, ev.Network.Interface, ev.Network.Mesh, ev.Server.Port, ev.Status)
		}
	}
	direct := one(t, evs, "SELECT 'direct' AS via")
	if direct.Network.Interface != pair.PodIf || direct.Network.Mesh || direct.Server.Port != 3306 {
		t.Errorf("direct: interface %q mesh %v port %d", direct.Network.Interface, direct.Network.Mesh, direct.Server.Port)
	}
	for _, ev := range evs {
		if ev.Server.Port == 15443 {
			t.Errorf("a mysql event decoded from the TLS leg: %q", ev.Query)
		}
	}
	tlsEvs := transactions(live, event.TypeTLS)
	if len(tlsEvs) != len(viaMesh) {
		t.Fatalf("%d tls events, want one per proxied connection (%d)", len(tlsEvs), len(viaMesh))
	}
	for _, ev := range tlsEvs {
		if ev.Network.Interface != pair.PodIf || ev.Server.Port != 15443 || ev.TLS == nil || !ev.TLS.Encrypted || ev.Network.Mesh {
			t.Errorf("tls event: interface %q port %d tls %+v", ev.Network.Interface, ev.Server.Port, ev.TLS)
		}
		// With tls configured (the webhook's default), the mesh's mTLS event carries the
		// handshake: Go's client and server agree on TLS 1.3.
		if tl := ev.TLS; tl == nil || tl.Version != "1.3" || tl.Established == nil || !*tl.Established || tl.Client == nil || tl.Client.JA4 == "" || ev.Status != event.StatusOK {
			t.Errorf("mesh tls event without the handshake's fields: %s", event.AppendJSON(nil, &ev))
		}
	}

	// The pod's pcapng replayed with the pod's config gives what live capture gave: interfaces
	// from the file's Interface Description Blocks, lo marked mesh, protocols found by content.
	if got, want := meshSummary(replay(t, dump.File, meshConfig)), meshSummary(live); !slices.Equal(got, want) {
		t.Errorf("replay differs from live:\n replay %q\n live   %q", got, want)
	}
	// Interfaces named in the config filter the file's interfaces, as they do live.
	var onLo []event.Event
	for _, ev := range live {
		if ev.Network.Interface == "lo" {
			onLo = append(onLo, ev)
		}
	}
	loConfig := strings.Replace(meshConfig, `"mesh":`, `"interfaces":["lo"],"mesh":`, 1)
	if got, want := meshSummary(replay(t, dump.File, loConfig)), meshSummary(onLo); len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("replay of lo only differs from live on lo:\n replay %q\n live   %q", got, want)
	}
}

// meshSummary is what must match between live capture and replay of a mesh pod: each
// transaction with the interface, server port and mesh mark it was seen with, sorted, since
// live capture interleaves its interfaces' events.
func meshSummary(evs []event.Event) []string {
	var out []string
	for _, typ := range []string{event.TypeMySQL, event.TypeHTTP, event.TypeTLS} {
		for _, ev := range transactions(evs, typ) {
			out = append(out, fmt.Sprintf("%s %s %d mesh=%v", summary([]event.Event{ev})[0], ev.Network.Interface, ev.Server.Port, ev.Network.Mesh))
		}
	}
	slices.Sort(out)
	return out
}

// serveHTTPIn serves a small HTTP answer on addr inside namespace ns until the test ends.
func serveHTTPIn(t *testing.T, ns, addr string) {
	t.Helper()
	ln := listenIn(t, ns, addr)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// getIn makes one GET to url from inside namespace ns, on a connection of its own.
func getIn(t *testing.T, ns, url string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			return dialIn(ns, addr)
		},
	}}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
}

// listenIn listens on addr inside namespace ns; the listener is closed in a Cleanup.
func listenIn(t *testing.T, ns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := realnet.InNS(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func dialIn(ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := realnet.InNS(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	})
	return c, err
}

// forward copies between each accepted connection and a connection from dial, both ways,
// until either side ends. It stops when ln is closed; the Cleanup waits for every copy.
func forward(t *testing.T, ln net.Listener, dial func() (net.Conn, error)) {
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				u, err := dial()
				if err != nil {
					t.Logf("proxy dial: %v", err)
					return
				}
				defer u.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
				<-done
			})
		}
	})
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mesh-peer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP(realnet.PeerIP.String())}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
