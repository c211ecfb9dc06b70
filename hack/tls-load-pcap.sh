#!/usr/bin/env bash
# tls-load-pcap.sh OUT [CONNECTIONS]: captures a TLS-heavy load for the replay benchmark: curl
# opening CONNECTIONS (default 3000) short HTTPS connections, four at a time, to nginx on
# 127.0.0.1:18443 (TLS 1.2 and 1.3, a self-signed ECDSA certificate made here), half of them
# over TLS 1.2. Run as root (tcpdump on lo). Writes OUT only when complete.
set -euo pipefail
out=$(realpath -m -- "$1") # absolute: the script works in its temporary directory
n=${2:-3000}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out cert.pem \
	-days 30 -subj /CN=load.tls.test -addext subjectAltName=DNS:load.tls.test 2>/dev/null
mkdir logs
cat >nginx.conf <<NGINX
daemon off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp; uwsgi_temp_path $tmp; scgi_temp_path $tmp;
	server {
		listen 127.0.0.1:18443 ssl;
		ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;
		ssl_protocols TLSv1.2 TLSv1.3;
		location / { return 200 "ok\n"; }
	}
}
NGINX
nginx -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/18443) 2>/dev/null && break; sleep 0.1; done
tcpdump -i lo -s 0 -U -w "$tmp/load.pcap" 'tcp port 18443' 2>/dev/null &
tp=$!
pids+=($tp)
sleep 1
seq "$n" | xargs -P 4 -I{} sh -c 'v=--tlsv1.3; [ $(({} % 2)) = 0 ] && v="--tlsv1.2 --tls-max 1.2"; curl -sS $v --cacert cert.pem --resolve load.tls.test:18443:127.0.0.1 -o /dev/null https://load.tls.test:18443/{}'
sleep 1
kill -INT $tp
wait $tp || true
mv "$tmp/load.pcap" "$out"
