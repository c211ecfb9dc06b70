#!/usr/bin/env bash
# Remakes the pcaps of this folder against a throwaway dnsmasq on 127.0.0.53:15353 (lo).
# Run as root (tcpdump on lo). Needs dnsmasq (dnsmasq-base), dig (bind9-dnsutils), tcpdump.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
zone=wire-audit.test
dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --user=root --group=root --pid-file= \
	--bind-interfaces --listen-address=127.0.0.53 --port=15353 --cache-size=0 --local=/$zone/ \
	--host-record=www.$zone,10.231.7.8,fd00:231::7:8 --txt-record="txt.$zone,v=audit1,hello world" \
	--mx-host=$zone,mail.$zone,10 --srv-host=_sql._tcp.$zone,db.$zone,3306,5,20 \
	--cname=alias.$zone,www.$zone 2>/dev/null &
dp=$!
trap 'kill $dp 2>/dev/null || true' EXIT
sleep 0.5
queries() { # queries FLAGS...: the same set of lookups, one dig per query
	for q in "www.$zone A" "www.$zone AAAA" "txt.$zone TXT" "$zone MX" "_sql._tcp.$zone SRV" \
		"alias.$zone A" "nope.$zone A"; do
		# shellcheck disable=SC2086
		dig @127.0.0.53 -p 15353 +tries=1 +time=2 $q "$@" >/dev/null
	done
}
cap() { # cap NAME FLAGS...
	local name=$1
	shift
	tcpdump -i lo -s 0 -U -w "$here/$name.pcap" 'port 15353' 2>/dev/null &
	local tp=$!
	sleep 1
	queries "$@"
	sleep 1
	kill -INT $tp
	wait $tp || true
}
cap udp
cap tcp +tcp
