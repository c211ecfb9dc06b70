#!/usr/bin/env bash
# Remakes the pcaps of this folder: real TLS servers and clients on 127.0.0.1, captured with
# tcpdump on lo. Run as root. Needs openssl, nginx, curl, python3, tcpdump (and go for the
# crypto/tls client). Certificates (root, intermediate, leaf with SANs; RSA and ECDSA) are
# made afresh with openssl each run, so the pcaps' certificates differ between runs.
#
#   nginx.pcap   nginx on 18443 (TLS 1.2 and 1.3, RSA and ECDSA chains): curl with and without
#                ALPN h2, openssl s_client -tls1_2/-tls1_3/-servername/-alpn/-noservername, a
#                mismatched SNI, resumption with -sess_out/-sess_in, python3 ssl, Go crypto/tls,
#                a client that rejects the certificate (no CA given), and garbage on the port.
#   mtls.pcap    openssl s_server -Verify 1 -max_send_frag 512 on 18444 (handshake messages
#                split across records): s_client with and without a client certificate, TLS 1.2
#                and 1.3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"

chain() { # chain NAME KEYALG: root, intermediate and leaf (SANs) of that key type
	local n=$1 alg=$2
	openssl req -x509 -new -newkey "$alg" -nodes -keyout "$n-root.key" -out "$n-root.pem" -days 3650 \
		-subj "/C=DE/O=wire-audit test/CN=$n root" -addext basicConstraints=critical,CA:TRUE 2>/dev/null
	openssl req -new -newkey "$alg" -nodes -keyout "$n-int.key" -out "$n-int.csr" -subj "/O=wire-audit test/CN=$n intermediate" 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$n-int.ext"
	openssl x509 -req -in "$n-int.csr" -CA "$n-root.pem" -CAkey "$n-root.key" -CAcreateserial -days 1825 -extfile "$n-int.ext" -out "$n-int.pem" 2>/dev/null
	openssl req -new -newkey "$alg" -nodes -keyout "$n-leaf.key" -out "$n-leaf.csr" -subj "/O=wire-audit test/CN=tls.test" 2>/dev/null
	printf 'subjectAltName=DNS:tls.test,DNS:www.tls.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$n-leaf.ext"
	openssl x509 -req -in "$n-leaf.csr" -CA "$n-int.pem" -CAkey "$n-int.key" -CAcreateserial -days 825 -extfile "$n-leaf.ext" -out "$n-leaf.pem" 2>/dev/null
	cat "$n-leaf.pem" "$n-int.pem" >"$n-fullchain.pem"
}
chain rsa rsa:2048
openssl ecparam -name prime256v1 -out p256.param
chain ec ec:p256.param
cat rsa-root.pem ec-root.pem >roots.pem
# A client certificate from the RSA intermediate.
openssl req -new -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj "/O=wire-audit test/CN=client one" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl x509 -req -in client.csr -CA rsa-int.pem -CAkey rsa-int.key -CAcreateserial -days 825 -extfile client.ext -out client.pem 2>/dev/null
cat client.pem rsa-int.pem >client-chain.pem

mkdir -p logs
cat >nginx.conf <<NGINX
daemon off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp; uwsgi_temp_path $tmp; scgi_temp_path $tmp;
	server {
		listen 127.0.0.1:18443 ssl http2;
		ssl_certificate $tmp/rsa-fullchain.pem; ssl_certificate_key $tmp/rsa-leaf.key;
		ssl_certificate $tmp/ec-fullchain.pem;  ssl_certificate_key $tmp/ec-leaf.key;
		ssl_protocols TLSv1.2 TLSv1.3;
		ssl_session_tickets on;
		location / { return 200 "ok\n"; }
	}
}
NGINX
nginx -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)
openssl s_server -accept 127.0.0.1:18444 -cert rsa-leaf.pem -key rsa-leaf.key -cert_chain rsa-int.pem \
	-CAfile roots.pem -Verify 1 -max_send_frag 512 -www -quiet >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/18443) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/18444) 2>/dev/null && break
	sleep 0.1
done

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

S="openssl s_client -connect 127.0.0.1:18443 -CAfile roots.pem"
nginxclients() {
	curl -sS --cacert roots.pem --resolve tls.test:18443:127.0.0.1 --http1.1 https://tls.test:18443/
	curl -sS --cacert roots.pem --resolve tls.test:18443:127.0.0.1 --http2 https://tls.test:18443/
	$S -tls1_2 -servername tls.test </dev/null
	$S -tls1_3 -servername www.tls.test -alpn h2,http/1.1 </dev/null
	$S -tls1_2 -noservername -cipher ECDHE-ECDSA-AES256-GCM-SHA384 </dev/null
	$S -tls1_2 -servername other.example </dev/null  # mismatched SNI: the server still answers
	$S -tls1_2 -servername tls.test -sess_out sess12 </dev/null
	$S -tls1_2 -servername tls.test -sess_in sess12 </dev/null
	# TLS 1.3 tickets arrive after the handshake: keep the connection open to receive them.
	(sleep 0.5) | $S -tls1_3 -servername tls.test -sess_out sess13
	$S -tls1_3 -servername tls.test -sess_in sess13 </dev/null
	python3 -c 'import ssl,socket
c=ssl.create_default_context(cafile="roots.pem")
s=c.wrap_socket(socket.create_connection(("127.0.0.1",18443)),server_hostname="tls.test")
s.sendall(b"GET / HTTP/1.0\r\nHost: tls.test\r\n\r\n"); s.recv(100); s.close()'
	if [ -x "${GOCLIENT:-}" ]; then "$GOCLIENT" 127.0.0.1:18443 tls.test roots.pem; fi
	curl -sS --tlsv1.2 --tls-max 1.2 --resolve tls.test:18443:127.0.0.1 https://tls.test:18443/  # rejects: unknown CA
	curl -sS --resolve tls.test:18443:127.0.0.1 https://tls.test:18443/                          # rejects, TLS 1.3
	printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/18443; cat >&3; timeout 1 cat <&3' # not TLS
}
M="openssl s_client -connect 127.0.0.1:18444 -CAfile roots.pem -servername tls.test"
mtlsclients() {
	$M -tls1_2 -cert client.pem -key client.key -cert_chain rsa-int.pem </dev/null
	$M -tls1_2 </dev/null   # no certificate: the server refuses
	$M -tls1_3 -cert client.pem -key client.key -cert_chain rsa-int.pem </dev/null
}
if command -v go >/dev/null; then
	GOCLIENT=$tmp/goclient
	(cd "$here/goclient" && go build -o "$GOCLIENT" .)
fi
cap nginx 18443 nginxclients
cap mtls 18444 mtlsclients
# The certificates' details, for the tests' comments.
for c in rsa-leaf ec-leaf client; do openssl x509 -in $c.pem -noout -subject -issuer -serial -fingerprint -sha256; done
