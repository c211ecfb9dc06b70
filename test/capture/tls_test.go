package capture_test

import (
	"context"
	gotls "crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/realnet"
)

// tlsConfig turns on TLS only, on any port (recognised by its handshake).
const tlsConfig = `{"version":1,"protocols":[{"name":"tls"}],"flows":false,"kafka":{"topic":"t"},"healthPort":15099}`

// tlsCerts makes, with openssl, a root, an intermediate and an ECDSA server leaf for tls.test
// and the peer's address, and a client certificate, in dir.
func tlsCerts(t *testing.T, dir string) {
	t.Helper()
	peer := realnet.PeerIP.String()
	steps := [][]string{
		{"req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "root.key", "-out", "root.pem", "-days", "30", "-subj", "/O=wire-audit test/CN=live root", "-addext", "basicConstraints=critical,CA:TRUE"},
		{"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "int.key", "-out", "int.csr", "-subj", "/O=wire-audit test/CN=live intermediate"},
		{"x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-days", "30", "-extfile", "int.ext", "-out", "int.pem"},
		{"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/O=wire-audit test/CN=tls.test"},
		{"x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey", "int.key", "-CAcreateserial", "-days", "30", "-extfile", "leaf.ext", "-out", "leaf.pem"},
		{"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/O=wire-audit test/CN=live client"},
		{"x509", "-req", "-in", "client.csr", "-CA", "int.pem", "-CAkey", "int.key", "-CAcreateserial", "-days", "30", "-extfile", "client.ext", "-out", "client.pem"},
	}
	files := map[string]string{
		"int.ext":    "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
		"leaf.ext":   "subjectAltName=DNS:tls.test,DNS:www.tls.test,IP:" + peer + "\nextendedKeyUsage=serverAuth\n",
		"client.ext": "extendedKeyUsage=clientAuth\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range steps {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	leaf, _ := os.ReadFile(filepath.Join(dir, "leaf.pem"))
	inter, _ := os.ReadFile(filepath.Join(dir, "int.pem"))
	if err := os.WriteFile(filepath.Join(dir, "chain.pem"), append(leaf, inter...), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLS: real TLS clients in the pod namespace talk to nginx (TLS 1.2 and 1.3) and to
// openssl s_server asking for a client certificate, in the peer namespace, while the sidecar
// captures live with TLS recognised by content and tcpdump writes the same traffic. Each
// connection gives one tls event whose fields tshark confirms, live and replay agree, and a
// plaintext connection to the TLS port gives none.
func TestTLS(t *testing.T) {
	for _, bin := range []string{"openssl", "python3", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			testenv.Missing(t, "%s is not installed", bin)
		}
	}
	pair := realnet.NewPair(t)
	dir := t.TempDir()
	tlsCerts(t, dir)
	srv := realnet.StartNginx(t, pair, realnet.NginxOptions{Server: fmt.Sprintf(
		"listen %s:8443 ssl; ssl_certificate %s/chain.pem; ssl_certificate_key %s/leaf.key; ssl_protocols TLSv1.2 TLSv1.3;",
		realnet.PeerIP, dir, dir)})
	peer := realnet.PeerIP.String()
	sserver := pair.Exec(pair.PeerNS, "openssl", "s_server", "-accept", peer+":4433", "-cert", dir+"/leaf.pem", "-key", dir+"/leaf.key",
		"-cert_chain", dir+"/int.pem", "-CAfile", dir+"/root.pem", "-Verify", "1", "-www", "-quiet")
	if err := sserver.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sserver.Process.Kill(); _ = sserver.Wait() })
	pcap := filepath.Join(t.TempDir(), "tls.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, pair.PodIf, pcap, "tcp port 8443 or tcp port 4433")
	sc := startSidecar(t, pair, tlsConfig)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitPort(t, ctx, pair, peer+":4433")
	inPod := func(stdin string, name string, args ...string) (string, error) {
		cmd := pair.Exec(pair.PodNS, name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	resolve := "tls.test:8443:" + peer
	s := func(args ...string) []string {
		return append([]string{"s_client", "-connect", peer + ":8443", "-CAfile", "root.pem"}, args...)
	}
	type client struct {
		name    string
		run     func() (string, error)
		wantErr bool
	}
	clients := []client{
		{"curl http/1.1", func() (string, error) {
			return srv.Curl("--cacert", dir+"/root.pem", "--resolve", resolve, "--http1.1", "https://tls.test:8443/")
		}, false},
		{"curl h2", func() (string, error) {
			return srv.Curl("--cacert", dir+"/root.pem", "--resolve", resolve, "--http2", "https://tls.test:8443/")
		}, false},
		{"s_client tls1.2 alpn", func() (string, error) {
			return inPod("", "openssl", s("-tls1_2", "-servername", "tls.test", "-alpn", "h2,http/1.1")...)
		}, false},
		{"s_client tls1.3", func() (string, error) { return inPod("", "openssl", s("-tls1_3", "-servername", "www.tls.test")...) }, false},
		{"s_client no SNI", func() (string, error) { return inPod("", "openssl", s("-tls1_2", "-noservername")...) }, false},
		{"s_client wrong SNI", func() (string, error) { return inPod("", "openssl", s("-tls1_2", "-servername", "other.example")...) }, false},
		{"s_client sess_out", func() (string, error) {
			return inPod("", "openssl", s("-tls1_2", "-servername", "tls.test", "-sess_out", "sess")...)
		}, false},
		{"s_client sess_in", func() (string, error) {
			return inPod("", "openssl", s("-tls1_2", "-servername", "tls.test", "-sess_in", "sess")...)
		}, false},
		{"python3 ssl", func() (string, error) {
			return inPod("", "python3", "-c", `import ssl,socket
c=ssl.create_default_context(cafile="root.pem")
s=c.wrap_socket(socket.create_connection(("`+peer+`",8443)),server_hostname="tls.test")
s.sendall(b"GET / HTTP/1.0\r\nHost: tls.test\r\n\r\n"); s.recv(100); s.close()`)
		}, false},
		{"go crypto/tls", func() (string, error) { return "", goTLS(ctx, pair, dir, peer+":8443") }, false},
		{"curl rejects", func() (string, error) {
			return srv.Curl("--tlsv1.2", "--tls-max", "1.2", "--resolve", resolve, "https://tls.test:8443/")
		}, true},
		{"mtls with cert", func() (string, error) {
			return inPod("", "openssl", "s_client", "-connect", peer+":4433", "-CAfile", "root.pem", "-tls1_2", "-servername", "tls.test", "-cert", "client.pem", "-key", "client.key", "-cert_chain", "int.pem")
		}, false},
		{"mtls without cert", func() (string, error) {
			return inPod("", "openssl", "s_client", "-connect", peer+":4433", "-CAfile", "root.pem", "-tls1_2", "-servername", "tls.test")
		}, true}, // the server refuses it with handshake_failure
	}
	for _, c := range clients {
		out, err := c.run()
		if (err != nil) != c.wantErr {
			t.Fatalf("%s: err %v (want an error: %v)\n%.500s", c.name, err, c.wantErr, out)
		}
	}
	if out, err := srv.Curl("http://" + peer + ":8443/"); err != nil || !strings.Contains(out, "400") {
		t.Fatalf("plain HTTP to the TLS port: %v %.200s", err, out)
	}

	live := transactions(sc.stop(t), event.TypeTLS)
	stopOracle(t, dump)
	if len(live) != len(clients) {
		for _, ev := range live {
			t.Logf("%s", event.AppendJSON(nil, &ev))
		}
		t.Fatalf("%d tls events for %d TLS connections", len(live), len(clients))
	}
	slices.SortFunc(live, func(a, b event.Event) int { return a.Event.Start.Compare(b.Event.Start) })
	for i, ev := range live {
		checkIdentity(t, ev, pair, ev.Server.Port)
		tl := ev.TLS
		if tl == nil || tl.Client == nil || tl.Client.JA3 == "" || tl.Client.JA4 == "" || tl.Server == nil || tl.Server.JA3S == "" {
			t.Errorf("%s: %s", clients[i].name, event.AppendJSON(nil, &ev))
		}
	}
	byName := map[string]event.Event{}
	for i, c := range clients {
		byName[c.name] = live[i]
	}
	checks := []struct {
		name string
		ok   func(tl *event.TLS, ev event.Event) bool
	}{
		{"curl h2", func(tl *event.TLS, ev event.Event) bool {
			return tl.Version == "1.3" && *tl.Established && tl.Client.JA4[8:10] == "h2"
		}},
		{"s_client tls1.2 alpn", func(tl *event.TLS, ev event.Event) bool {
			return tl.Version == "1.2" && tl.NextProtocol == "http/1.1" && tl.Server.Subject == "CN=tls.test,O=wire-audit test" && slices.Contains(tl.Server.X509.AlternativeNames, realnet.PeerIP.String())
		}},
		{"s_client tls1.3", func(tl *event.TLS, ev event.Event) bool {
			return tl.Version == "1.3" && tl.Server.Subject == "" && tl.Client.ServerName == "www.tls.test"
		}},
		{"s_client no SNI", func(tl *event.TLS, ev event.Event) bool {
			return tl.Client.ServerName == "" && tl.Client.JA4[3] == 'i' && *tl.Established
		}},
		{"s_client wrong SNI", func(tl *event.TLS, ev event.Event) bool {
			return tl.Client.ServerName == "other.example" && *tl.Established
		}},
		{"s_client sess_out", func(tl *event.TLS, ev event.Event) bool { return !*tl.Resumed }},
		{"s_client sess_in", func(tl *event.TLS, ev event.Event) bool { return *tl.Resumed && *tl.Established }},
		{"curl rejects", func(tl *event.TLS, ev event.Event) bool {
			return ev.Status == event.StatusError && !*tl.Established && ev.Error != nil && ev.Error.Message == "unknown_ca alert from the client"
		}},
		{"mtls with cert", func(tl *event.TLS, ev event.Event) bool {
			return *tl.Client.CertificateRequested && *tl.Client.CertificateSent && tl.Client.Subject == "CN=live client,O=wire-audit test"
		}},
		{"mtls without cert", func(tl *event.TLS, ev event.Event) bool {
			return *tl.Client.CertificateRequested && !*tl.Client.CertificateSent && ev.Status == event.StatusError
		}},
	}
	for _, c := range checks {
		ev := byName[c.name]
		if !c.ok(ev.TLS, ev) {
			t.Errorf("%s: %s", c.name, event.AppendJSON(nil, &ev))
		}
	}

	// Replay of tcpdump's file gives the same events.
	replayed := transactions(replay(t, pcap, tlsConfig), event.TypeTLS)
	slices.SortFunc(replayed, func(a, b event.Event) int { return a.Event.Start.Compare(b.Event.Start) })
	if len(replayed) != len(live) {
		t.Fatalf("replay: %d tls events, live %d", len(replayed), len(live))
	}
	for i := range live {
		a, b := live[i], replayed[i]
		if got, want := string(event.AppendJSON(nil, &event.Event{Status: b.Status, TLS: b.TLS, Error: b.Error})), string(event.AppendJSON(nil, &event.Event{Status: a.Status, TLS: a.TLS, Error: a.Error})); got != want {
			t.Errorf("%s: replay\n%s\nlive\n%s", clients[i].name, got, want)
		}
	}

	// tshark: SNI, JA3, JA3S and the cipher of every connection, by client port.
	theirs := map[string]string{}
	for _, l := range tsharkFields(t, pcap, "-d", "tcp.port==4433,tls", "-d", "tcp.port==8443,tls", "-Y", "tls.handshake.type==1 || tls.handshake.type==2",
		"-T", "fields", "-E", "occurrence=f", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tls.handshake.type", "-e", "tls.handshake.extensions_server_name",
		"-e", "tls.handshake.ja3", "-e", "tls.handshake.ja3s", "-e", "tls.handshake.ciphersuite") {
		f := strings.Split(l, "\t")
		for len(f) < 7 {
			f = append(f, "")
		}
		switch f[2] {
		case "1":
			theirs[f[0]+" sni"], theirs[f[0]+" ja3"] = f[3], f[4]
		case "2":
			theirs[f[1]+" ja3s"], theirs[f[1]+" cipher"] = f[5], f[6]
		}
	}
	for i, ev := range live {
		p := fmt.Sprint(ev.Client.Port)
		var cs uint16
		if _, err := fmt.Sscanf(theirs[p+" cipher"], "0x%x", &cs); err != nil {
			t.Errorf("%s: tshark cipher %q: %v", clients[i].name, theirs[p+" cipher"], err)
		}
		ours := []string{ev.TLS.Client.ServerName, ev.TLS.Client.JA3, ev.TLS.Server.JA3S, ev.TLS.Cipher}
		want := []string{theirs[p+" sni"], theirs[p+" ja3"], theirs[p+" ja3s"], gotls.CipherSuiteName(cs)}
		if !slices.Equal(ours, want) {
			t.Errorf("%s: ours %q, tshark %q", clients[i].name, ours, want)
		}
	}
}

// goTLS makes one Go crypto/tls connection from the pod namespace and sends a request.
func goTLS(ctx context.Context, pair *realnet.Pair, dir, addr string) error {
	pem, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	raw, err := pair.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c := gotls.Client(raw, &gotls.Config{ServerName: "tls.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\nHost: tls.test\r\n\r\n")); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 100))
	return err
}

// waitPort waits until addr accepts connections from the pod namespace.
func waitPort(t *testing.T, ctx context.Context, pair *realnet.Pair, addr string) {
	t.Helper()
	for ctx.Err() == nil {
		if c, err := pair.Dial(ctx, "tcp", addr); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never accepted", addr)
}
