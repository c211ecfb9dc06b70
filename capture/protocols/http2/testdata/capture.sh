#!/usr/bin/env bash
# Remakes the pcaps of this folder on lo, as root (tcpdump), with real peers:
#   nginx.pcap  nginx 1.22 `listen 127.0.0.1:18081 http2` (cleartext, prior knowledge), hit by
#               nghttp (several interleaved streams on one connection, a 404, a POST with a
#               body, padding, a header block split into CONTINUATION frames) and by
#               curl --http2-prior-knowledge (one request, with credentials).
#   h2c.pcap    test/h2peer's h2c server (Go, x/net/http2/h2c) on 18082: curl --http2 and
#               nghttp -u upgrade from HTTP/1.1 (101 Switching Protocols), nghttp with prior
#               knowledge.
#   grpc.pcap   test/h2peer's grpc-go server on 18083 and its client on one connection: unary,
#               server streaming, client streaming, NOT_FOUND with a message, and a deadline
#               exceeded.
# Needs nginx, nghttp (nghttp2-client), curl, tcpdump and Go.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$root/test/h2peer" && go build -o "$tmp/h2peer" .)
mkdir -p "$tmp/www" "$tmp/logs"
for i in 1 2 3; do printf 'page %s\n' "$i" >"$tmp/www/p$i.html"; done
seq 1 2000 | sed 's/$/ some text/' >"$tmp/www/big.txt"
cat >"$tmp/nginx.conf" <<CONF
daemon off;
user root root;
worker_processes 1;
error_log $tmp/logs/error.log;
pid $tmp/nginx.pid;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $tmp/body;
	proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fcgi; uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
	types { text/html html; text/plain txt; }
	large_client_header_buffers 4 64k;
	server {
		listen 127.0.0.1:18081 http2;
		root $tmp/www;
		location /form { return 201 "created\n"; }
	}
}
CONF
nginx -c "$tmp/nginx.conf" &
pids+=($!)
"$tmp/h2peer" h2c 127.0.0.1:18082 "$tmp/www" &
pids+=($!)
"$tmp/h2peer" grpc-server 127.0.0.1:18083 &
pids+=($!)
sleep 1
cap() { # cap NAME PORT CMD...: capture PORT on lo into NAME.pcap while CMD runs
	local name=$1 port=$2
	shift 2
	tcpdump -i lo -s 0 -U -w "$here/$name.pcap" "tcp port $port" 2>/dev/null &
	local tp=$!
	sleep 1
	"$@" >/dev/null 2>&1 || true
	sleep 1
	kill -INT $tp
	wait $tp || true
}
U=http://127.0.0.1:18081
nginxs() {
	nghttp -n -H 'user-agent: capture-test/1' "$U/p1.html" "$U/p2.html?x=1&y=2" "$U/missing" "$U/big.txt" "$U/p3.html"
	head -c 3000 /dev/urandom >"$tmp/blob"
	nghttp -n -d "$tmp/blob" "$U/form"
	nghttp -n -b 32 "$U/p1.html" "$U/p2.html"
	nghttp -n -H "x-big: $(head -c 20000 /dev/zero | tr '\0' 'v')" "$U/p1.html"
	curl -s --http2-prior-knowledge -A 'capture-test/2' -H 'Authorization: Bearer s3cr3t' -H 'Cookie: sid=abc' "$U/p3.html?q=1"
}
U2=http://127.0.0.1:18082
h2cs() {
	curl -s --http2 -A 'capture-test/3' "$U2/p1.html"
	nghttp -n -u "$U2/p2.html" "$U2/p3.html" "$U2/nothing"
	nghttp -n "$U2/big.txt"
}
cap nginx 18081 nginxs
cap h2c 18082 h2cs
cap grpc 18083 "$tmp/h2peer" grpc-client 127.0.0.1:18083
