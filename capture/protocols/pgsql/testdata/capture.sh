#!/usr/bin/env bash
# Remakes the pcaps of this folder against a throwaway PostgreSQL 15 on 127.0.0.1:15432.
# Run as root (tcpdump on lo; initdb and postgres run as the postgres user). Needs psql,
# pgbench, tcpdump, openssl and Go (for pgxdrive, which has its own go.mod).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=/usr/lib/postgresql/15/bin
tmp=$(mktemp -d)
chown postgres "$tmp"
trap 'runuser -u postgres -- $bin/pg_ctl -D $tmp/data -m fast stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
C="host=127.0.0.1 port=15432 user=postgres dbname=postgres sslmode=disable"

runuser -u postgres -- $bin/initdb -D "$tmp/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/server.key" -out "$tmp/server.crt" -days 2 -subj /CN=localhost 2>/dev/null
chown postgres "$tmp/server.key" "$tmp/server.crt"
chmod 600 "$tmp/server.key"
start() { # start ssl=on|off
	runuser -u postgres -- $bin/pg_ctl -D "$tmp/data" -l "$tmp/log" -w start -o "-p 15432 -k $tmp \
		-c listen_addresses=127.0.0.1 -c ssl=$1 -c ssl_cert_file=$tmp/server.crt -c ssl_key_file=$tmp/server.key" >/dev/null
}
stop() { runuser -u postgres -- $bin/pg_ctl -D "$tmp/data" -m fast -w stop >/dev/null; }
cap() { # cap NAME CMD...: capture port 15432 on lo into NAME.pcap while CMD runs
	local name=$1
	shift
	tcpdump -i lo -s 0 -U -w "$here/$name.pcap" 'tcp port 15432' 2>/dev/null &
	local tp=$!
	sleep 1
	"$@" >/dev/null 2>&1 || true
	sleep 1
	kill -INT $tp
	wait $tp || true
}

simple() {
	psql "$C" -X <"$here/simple.sql"
	psql "host=127.0.0.1 port=15432 user=postgres dbname=nosuchdb sslmode=disable" -c 'SELECT 1'
	psql "${C/sslmode=disable/sslmode=prefer}" -X -c "SELECT current_user"
	psql "$C" -X -q -c "BEGIN; INSERT INTO accounts VALUES (5, 'eve', 5); UPDATE accounts SET balance = balance * 2 WHERE id > 3; COMMIT"
	psql "$C" -X -q -c "SELECT 1; SELECT * FROM missing; SELECT 2"
}
cancel() {
	psql "$C" -X -c "SELECT pg_sleep(5)" &
	local pid=$!
	sleep 0.7
	kill -INT $pid
	wait $pid
}

start off
cap simple simple
cap cancel cancel
pgbench -i -q "$C" >/dev/null 2>&1
cap pgbench_extended pgbench -M extended -c 2 -t 10 -n "$C"
cap pgbench_prepared pgbench -M prepared -c 2 -t 10 -n "$C"
(cd "$here/pgxdrive" && go build -o "$tmp/pgxdrive" .)
cap pgx "$tmp/pgxdrive"
stop
start on
cap ssl psql "${C/sslmode=disable/sslmode=require}" -X -c "SELECT 'secret'"
