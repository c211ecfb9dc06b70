#!/usr/bin/env bash
# Remakes pymongo.pcap against a throwaway FerretDB v1.24.0 (SQLite backend) on 127.0.0.1:27017.
# Run as root (tcpdump on lo) from anywhere. Needs bin/ferretdb (make ferretdb), tcpdump and
# Debian's python3-pymongo; the client is test/capture/testdata/mongodb_client.py.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
tmp=$(mktemp -d)
"$root/bin/ferretdb" --handler=sqlite --sqlite-url="file:$tmp/" --state-dir="$tmp" \
	--listen-addr=127.0.0.1:27017 --debug-addr=127.0.0.1:0 --telemetry=disable --log-level=error >"$tmp/log" 2>&1 &
srv=$!
trap 'kill $srv; wait $srv || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/27017) 2>/dev/null && break; sleep 0.1; done
tcpdump -i lo -s 0 -U -w "$here/pymongo.pcap" 'tcp port 27017' 2>/dev/null &
tp=$!
sleep 1
/usr/bin/python3 "$root/test/capture/testdata/mongodb_client.py" 127.0.0.1:27017 'pw-Zq83!x'
sleep 1
kill -INT $tp
wait $tp || true
