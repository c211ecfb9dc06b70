package realnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NginxOptions configures StartNginx. The zero value is ready to use.
type NginxOptions struct {
	// Port to listen on in the peer namespace. Default 80.
	Port int
	// Files are written under the document root, path to content.
	Files map[string]string
	// Server holds extra directives for the server block, such as locations.
	Server string
	// HTTP2 makes the listeners cleartext HTTP/2 (`listen ... http2`), which nginx 1.22
	// serves with prior knowledge only: it does not take "Upgrade: h2c".
	HTTP2 bool
}

// Nginx is an nginx running in the peer namespace of a pair, serving a document root on the
// peer's IPv4 and IPv6 addresses, with gzip on for text/plain and WebDAV PUT/DELETE under
// /upload/.
type Nginx struct {
	Endpoint
	Root string

	pair *Pair
	curl string
	proc *proc
}

// StartNginx writes a config and runs nginx (as root, in the foreground) in the peer namespace,
// and waits until it answers. It takes well under a second.
func StartNginx(t TB, pair *Pair, opts NginxOptions) *Nginx {
	t.Helper()
	if opts.Port == 0 {
		opts.Port = 80
	}
	bin := lookPath(t, "nginx", "/usr/sbin/nginx")
	dir := shortTempDir(t, "rn-nginx-")
	n := &Nginx{Endpoint: newEndpoint(pair, opts.Port), Root: filepath.Join(dir, "www"), pair: pair, curl: lookPath(t, "curl")}
	for _, d := range []string{"www/upload", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatalf("realnet: %v", err)
		}
	}
	for p, content := range opts.Files {
		f := filepath.Join(n.Root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatalf("realnet: %v", err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatalf("realnet: %v", err)
		}
	}
	port := strconv.Itoa(opts.Port)
	if opts.HTTP2 {
		port += " http2"
	}
	conf := fmt.Sprintf(`daemon off;
user root root;
worker_processes 1;
error_log %[1]s/logs/error.log;
pid %[1]s/nginx.pid;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fcgi;
	uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
	types { text/html html; text/plain txt; application/json json; }
	server {
		listen %[2]s:%[4]s;
		listen [%[3]s]:%[4]s;
		root %[1]s/www;
		gzip on; gzip_types text/plain; gzip_min_length 100;
		location /upload/ { dav_methods PUT DELETE; create_full_put_path on; }
		%[5]s
	}
}
`, dir, pair.PeerIP, pair.PeerIP6, port, opts.Server)
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatalf("realnet: %v", err)
	}
	start := time.Now()
	n.proc = startProc(t, "nginx", pair.Exec(pair.PeerNS, bin, "-c", cfg, "-e", filepath.Join(dir, "logs", "error.log")), syscall.SIGQUIT)
	err := waitUntil(t.Context(), 15*time.Second, 50*time.Millisecond, n.proc, func(ctx context.Context) error {
		c, err := pair.Dial(ctx, "tcp", n.Addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		logs, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
		t.Fatalf("realnet: nginx: %v\n%s%s", err, tail(n.proc.log.String(), 2000), strings.TrimSpace(string(logs)))
	}
	t.Logf("realnet: nginx on %s: start %v", n.Addr, time.Since(start).Round(time.Millisecond))
	return n
}

// URL is http://<peer>:<port><path>.
func (n *Nginx) URL(path string) string { return "http://" + n.Addr + path }

// Curl runs curl in the pod namespace with args and returns its standard output.
func (n *Nginx) Curl(args ...string) (string, error) {
	return runWithInput("curl", n.pair.Exec(n.pair.PodNS, n.curl, append([]string{"-sS", "--max-time", "300"}, args...)...), "", 5*time.Minute)
}

// Dial opens a raw TCP connection from the pod namespace to the server.
func (n *Nginx) Dial(ctx context.Context) (net.Conn, error) { return n.pair.Dial(ctx, "tcp", n.Addr) }
