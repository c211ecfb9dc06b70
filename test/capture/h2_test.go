package capture_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/audit-io/wire-audit/capture/event"
	"github.com/audit-io/wire-audit/internal/testenv"
	"github.com/audit-io/wire-audit/test/gobuild"
	"github.com/audit-io/wire-audit/test/realnet"
)

var h2peerBin binary

// h2peer builds test/h2peer (a module of its own: grpc-go and an h2c server) once per test
// binary.
func h2peer(t *testing.T) string {
	t.Helper()
	return h2peerBin.get(t, func(dir string) (string, error) {
		bin := filepath.Join(dir, "h2peer")
		return bin, gobuild.Go(context.Background(), "../h2peer", ".", bin, nil)
	})
}

// startPeer runs h2peer with args in namespace ns until the test ends, and waits until addr
// accepts connections.
func startPeer(t *testing.T, pair *realnet.Pair, ns, addr string, args ...string) {
	t.Helper()
	cmd := pair.Exec(ns, h2peer(t), args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for range 100 {
		if c, err := dialIn(ns, addr); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("h2peer %v: %s not listening within 5 s\n%s", args, addr, out.String())
}

// runIn runs name with args in namespace ns and returns its output.
func runIn(t *testing.T, pair *realnet.Pair, ns string, name string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		testenv.Missing(t, "%s is not installed", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := pair.Exec(ns, bin, args...)
	cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// h2Line summarises ev. A deadline exceeded ends the race between the server's deadline timer
// (trailers with DEADLINE_EXCEEDED, or RST_STREAM) and the client's RST_STREAM(CANCEL): each
// is a real ending, shown as "deadline" when the call is an Error with one of them.
func h2Line(ev event.Event) string {
	if ev.RPC != nil && ev.RPC.Method == "Slow" && ev.Status == event.StatusError &&
		(ev.RPC.GRPC.StatusCode != nil && *ev.RPC.GRPC.StatusCode == 4 || ev.Error != nil && strings.HasPrefix(ev.Error.Message, "stream reset by")) {
		return fmt.Sprintf("Error %s/%s %s deadline mesh=%v", ev.HTTP.Version, ev.Method, ev.URL.Original, ev.Network.Mesh)
	}
	s := fmt.Sprintf("%s %s/%s %s", ev.Status, ev.HTTP.Version, ev.Method, ev.URL.Original)
	if r := ev.HTTP.Response; r != nil {
		s += fmt.Sprintf(" %d", r.StatusCode)
	}
	if ev.RPC != nil {
		s += fmt.Sprintf(" grpc=%s/%s", ev.RPC.Service, ev.RPC.Method)
		if c := ev.RPC.GRPC.StatusCode; c != nil {
			s += fmt.Sprintf(" code=%d", *c)
		}
		s += fmt.Sprintf(" msgs=%d/%d", ev.RPC.GRPC.RequestMessages, ev.RPC.GRPC.ResponseMessages)
	}
	if ev.Error != nil {
		s += " note=" + ev.Error.Message
	}
	if ev.Network.Mesh {
		s += " mesh"
	}
	return s
}

// TestHTTP2 drives real HTTP/2 servers from the pod namespace while the sidecar captures
// live, with HTTP recognised by content on every port: nginx with a cleartext http2
// listener (prior knowledge: nghttp with several streams on one connection, a 404 and a
// POST with a body; curl --http2-prior-knowledge), a plain nginx that ignores curl's
// "Upgrade: h2c", a Go server that accepts it (curl --http2, nghttp -u), and a grpc-go
// server and client (unary, server and client streaming, NOT_FOUND, deadline exceeded).
// The events must equal a replay of tcpdump's capture, and tshark's http2 dissection.
func TestHTTP2(t *testing.T) {
	pair := realnet.NewPair(t)
	files := map[string]string{"a.html": "<p>a</p>\n", "b.txt": strings.Repeat("b", 5000)}
	realnet.StartNginx(t, pair, realnet.NginxOptions{Port: 80, HTTP2: true, Files: files,
		Server: `location /form { return 201 "created\n"; }`})
	h1 := realnet.StartNginx(t, pair, realnet.NginxOptions{Port: 8080, Files: files})
	peer := pair.PeerIP.String()
	startPeer(t, pair, pair.PeerNS, peer+":8081", "h2c", peer+":8081", h1.Root)
	startPeer(t, pair, pair.PeerNS, peer+":50051", "grpc-server", peer+":50051")
	pcap := filepath.Join(t.TempDir(), "h2.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, pair.PodIf, pcap, "tcp")
	cfg := `{"version":1,"protocols":[{"name":"http"}],"flows":false,"kafka":{"topic":"t"},"healthPort":15099,"privacy":{"httpHeaders":["authorization"]}}`
	sc := startSidecar(t, pair, cfg)

	body := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(body, []byte(strings.Repeat("x", 2500)), 0o600); err != nil {
		t.Fatal(err)
	}
	u := func(port, path string) string { return "http://" + net.JoinHostPort(peer, port) + path }
	runIn(t, pair, pair.PodNS, "nghttp", "-n", u("80", "/a.html"), u("80", "/b.txt?x=1"), u("80", "/missing"))
	runIn(t, pair, pair.PodNS, "nghttp", "-n", "-d", body, u("80", "/form"))
	runIn(t, pair, pair.PodNS, "curl", "-sS", "--http2-prior-knowledge", "-H", "Authorization: Bearer t0ps3cret", u("80", "/a.html"))
	runIn(t, pair, pair.PodNS, "curl", "-sS", "--http2", u("8080", "/a.html"))
	runIn(t, pair, pair.PodNS, "curl", "-sS", "--http2", u("8081", "/a.html"))
	runIn(t, pair, pair.PodNS, "nghttp", "-n", "-u", u("8081", "/b.txt"), u("8081", "/nothing"))
	if out := runIn(t, pair, pair.PodNS, h2peer(t), "grpc-client", net.JoinHostPort(peer, "50051")); !strings.Contains(out, "lookup: NotFound") || !strings.Contains(out, "slow: DeadlineExceeded") {
		t.Fatalf("grpc client:\n%s", out)
	}
	live := sc.stop(t)
	stopOracle(t, dump)

	var got []string
	for _, ev := range transactions(live, event.TypeHTTP) {
		got = append(got, h2Line(ev))
	}
	want := []string{
		"OK 2/GET /a.html 200", "OK 2/GET /b.txt?x=1 200", "Error 2/GET /missing 404",
		"OK 2/POST /form 201",
		"OK 2/GET /a.html 200",
		"OK 1.1/GET /a.html 200", // nginx does not take the upgrade
		"OK 2/GET /a.html 200",   // the Go server does: stream 1
		"OK 2/GET /b.txt 200", "Error 2/GET /nothing 404",
		"OK 2/POST /audit.test.Echo/Unary 200 grpc=audit.test.Echo/Unary code=0 msgs=1/1",
		"OK 2/POST /audit.test.Echo/Count 200 grpc=audit.test.Echo/Count code=0 msgs=1/3",
		"OK 2/POST /audit.test.Echo/Sum 200 grpc=audit.test.Echo/Sum code=0 msgs=4/1",
		"Error 2/POST /audit.test.Echo/Lookup 200 grpc=audit.test.Echo/Lookup code=5 msgs=1/0 note=no such key: k1",
		"Error 2/POST /audit.test.Echo/Slow deadline mesh=false",
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("events:\n%s\nwant (in any order)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, ev := range transactions(live, event.TypeHTTP) {
		if ev.URL.Original == "/a.html" && ev.Server.Port == 80 && ev.HTTP.Request.Headers["authorization"] != "" {
			if ev.HTTP.Request.Headers["authorization"] != "[redacted]" || strings.Contains(fmt.Sprint(live), "t0ps3cret") {
				t.Errorf("authorization not redacted: %v", ev.HTTP.Request.Headers)
			}
			checkIdentity(t, ev, pair, 80)
		}
	}

	var again []string
	for _, ev := range transactions(replay(t, pcap, cfg), event.TypeHTTP) {
		again = append(again, h2Line(ev))
	}
	if !slices.Equal(got, again) {
		t.Errorf("live and replay differ:\nlive   %q\nreplay %q", got, again)
	}

	// tshark: the same HTTP/2 requests (method and path), decoding each port as HTTP so
	// that it follows the upgrade too.
	var theirs []string
	args := []string{"-d", "tcp.port==80,http2", "-d", "tcp.port==50051,http2", "-d", "tcp.port==8081,http",
		"-Y", "http2.headers.method", "-T", "fields", "-e", "http2.headers.method", "-e", "http2.headers.path"}
	for _, l := range tsharkFields(t, pcap, args...) {
		ms, ps, _ := strings.Cut(l, "\t")
		paths := strings.Split(ps, ",")
		for i, m := range strings.Split(ms, ",") {
			theirs = append(theirs, m+" "+paths[i])
		}
	}
	var ours []string
	for _, ev := range transactions(live, event.TypeHTTP) {
		if ev.HTTP.Version == "2" && !(ev.Server.Port == 8081 && ev.URL.Original == "/a.html") && !(ev.Server.Port == 8081 && ev.URL.Original == "/b.txt") {
			ours = append(ours, ev.Method+" "+ev.URL.Original)
		}
	}
	if !slices.Equal(sorted(ours), sorted(theirs)) {
		t.Errorf("HTTP/2 requests differ from tshark's (the upgraded requests are HTTP/1.1 to tshark):\nours   %v\ntshark %v", sorted(ours), sorted(theirs))
	}
}

// TestGRPCMesh: in a mesh pod the gRPC client talks cleartext HTTP/2 to the local proxy on
// lo, which forwards to the server on the peer. The sidecar, told the pod has a mesh and
// with HTTP configured on port 80 only, finds the calls on lo by content and marks them.
func TestGRPCMesh(t *testing.T) {
	pair := realnet.NewPair(t)
	peer := pair.PeerIP.String()
	startPeer(t, pair, pair.PeerNS, peer+":50051", "grpc-server", peer+":50051")
	proxy := listenIn(t, pair.PodNS, "127.0.0.1:15001")
	forward(t, proxy, func() (net.Conn, error) { return dialIn(pair.PodNS, net.JoinHostPort(peer, "50051")) })
	pcap := filepath.Join(t.TempDir(), "lo.pcap")
	dump := realnet.StartTcpdump(t, pair, pair.PodNS, "lo", pcap, "tcp port 15001")
	sc := startSidecar(t, pair, `{"version":1,"mesh":"istio","protocols":[{"name":"http","ports":[80]}],"flows":false,"kafka":{"topic":"t"},"healthPort":15099}`)
	if out := runIn(t, pair, pair.PodNS, h2peer(t), "grpc-client", "127.0.0.1:15001"); !strings.Contains(out, "unary: echo: hi") {
		t.Fatalf("grpc client:\n%s", out)
	}
	live := sc.stop(t)
	var onLo []string
	for _, ev := range transactions(live, event.TypeHTTP) {
		if ev.Network.Interface == "lo" {
			onLo = append(onLo, h2Line(ev))
		}
	}
	want := []string{
		"OK 2/POST /audit.test.Echo/Unary 200 grpc=audit.test.Echo/Unary code=0 msgs=1/1 mesh",
		"OK 2/POST /audit.test.Echo/Count 200 grpc=audit.test.Echo/Count code=0 msgs=1/3 mesh",
		"OK 2/POST /audit.test.Echo/Sum 200 grpc=audit.test.Echo/Sum code=0 msgs=4/1 mesh",
		"Error 2/POST /audit.test.Echo/Lookup 200 grpc=audit.test.Echo/Lookup code=5 msgs=1/0 note=no such key: k1 mesh",
		"Error 2/POST /audit.test.Echo/Slow deadline mesh=true",
	}
	if !slices.Equal(onLo, want) {
		t.Errorf("events on lo:\n%s\nwant\n%s", strings.Join(onLo, "\n"), strings.Join(want, "\n"))
	}
	// On lo the kernel hands tcpdump each packet twice (sent and received) and libpcap keeps
	// one copy: half of what it received is all of it.
	if st, err := dump.Stop(); err != nil || st.KernelDropped != 0 || 2*st.Captured != st.Received {
		t.Fatalf("tcpdump on lo: %+v %v", st, err)
	}

	// A replay of lo has no mesh to say "look at every port": HTTP by content does the same.
	var again []string
	for _, ev := range transactions(replay(t, pcap, `{"version":1,"protocols":[{"name":"http"}],"flows":false,"kafka":{"topic":"t"},"healthPort":15099}`), event.TypeHTTP) {
		ev.Network.Mesh = true
		again = append(again, h2Line(ev))
	}
	if !slices.Equal(onLo, again) {
		t.Errorf("live and replay differ:\nlive   %q\nreplay %q", onLo, again)
	}
	// tshark's grpc dissector: the same calls.
	var theirs []string
	for _, l := range tsharkFields(t, pcap, "-d", "tcp.port==15001,http2", "-Y", "http2.headers.path", "-T", "fields", "-e", "http2.headers.path") {
		theirs = append(theirs, strings.Split(l, ",")...)
	}
	var ours []string
	for _, ev := range transactions(live, event.TypeHTTP) {
		if ev.Network.Interface == "lo" {
			ours = append(ours, ev.URL.Path)
		}
	}
	if !slices.Equal(ours, theirs) {
		t.Errorf("calls differ from tshark's:\nours   %v\ntshark %v", ours, theirs)
	}
}
