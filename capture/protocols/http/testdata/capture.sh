#!/usr/bin/env bash
# Remakes the pcaps of this folder against a throwaway nginx on 127.0.0.1:18080.
# Run as root (tcpdump on lo). Needs nginx, curl, tcpdump and bash (raw socket via /dev/tcp).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
mkdir -p "$tmp/www/upload" "$tmp/logs"
chmod 777 "$tmp/www/upload"
for i in 1 2 3; do printf 'page %s\n' "$i" >"$tmp/www/p$i.html"; done
seq 1 4000 | sed 's/$/ some compressible text/' >"$tmp/www/big.txt"
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
	server {
		listen 127.0.0.1:18080;
		root $tmp/www;
		gzip on; gzip_types text/plain; gzip_min_length 100;
		location /upload/ { dav_methods PUT DELETE; create_full_put_path on; }
		location /nocontent { return 204; }
		location /fail { return 503; }
	}
}
CONF
nginx -c "$tmp/nginx.conf" &
srv=$!
trap 'kill $srv; wait $srv || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18080/p1.html && break; sleep 0.1; done
U=http://127.0.0.1:18080
cap() { # cap NAME CMD...: capture port 18080 on lo into NAME.pcap while CMD runs
	local name=$1
	shift
	tcpdump -i lo -s 0 -U -w "$here/$name.pcap" 'tcp port 18080' 2>/dev/null &
	local tp=$!
	sleep 1
	"$@" >/dev/null 2>&1 || true
	sleep 1
	kill -INT $tp
	wait $tp || true
}
curls() {
	# keep-alive: several URLs on one connection, a 404, HEAD, gzip + chunked, 204, 503
	curl -s -A 'capture-test/1' -H 'Authorization: Bearer s3cr3t' -H 'Cookie: sid=abc' \
		"$U/p1.html" "$U/p2.html?x=1&y=2" "$U/missing" "$U/nocontent" "$U/fail"
	curl -s -I "$U/p3.html"
	curl -s --compressed "$U/big.txt"
	# Expect: 100-continue on an upload, then a DELETE
	head -c 5000 /dev/urandom >"$tmp/blob"
	curl -s -H 'Expect: 100-continue' -T "$tmp/blob" "$U/upload/blob"
	curl -s -X DELETE "$U/upload/blob"
	# HTTP/1.0 without keep-alive
	curl -s -0 "$U/p1.html"
}
pipelined() {
	# three requests in one write over a raw socket, the last asking to close
	exec 3<>/dev/tcp/127.0.0.1/18080
	printf 'GET /p1.html HTTP/1.1\r\nHost: localhost:18080\r\n\r\nHEAD /p2.html HTTP/1.1\r\nHost: localhost\r\n\r\nGET /big.txt HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n' >&3
	timeout 2 cat <&3 >/dev/null || true
	exec 3>&-
	# garbage on the port: nginx answers 400 and closes
	exec 3<>/dev/tcp/127.0.0.1/18080
	printf '\x16\x03\x01\x00\x05hello garbage\r\n\r\n' >&3
	timeout 1 cat <&3 >/dev/null || true
	exec 3>&-
}
cap curl curls
cap pipelined pipelined
