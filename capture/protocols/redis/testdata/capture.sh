#!/usr/bin/env bash
# Remakes the pcaps of this folder against a throwaway redis-server on 127.0.0.1:16379.
# Run as root (tcpdump on lo). Needs redis-server, redis-cli, redis-benchmark and tcpdump.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
redis-server --port 16379 --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" --daemonize no >"$tmp/log" 2>&1 &
srv=$!
trap 'kill $srv; wait $srv || true; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do redis-cli -p 16379 ping >/dev/null 2>&1 && break; sleep 0.1; done
R="redis-cli -p 16379"
cap() { # cap NAME CMD...: capture port 16379 on lo into NAME.pcap while CMD runs
	local name=$1
	shift
	tcpdump -i lo -s 0 -U -w "$here/$name.pcap" 'tcp port 16379' 2>/dev/null &
	local tp=$!
	sleep 1
	"$@" >/dev/null 2>&1 || true
	sleep 1
	kill -INT $tp
	wait $tp || true
}

cli() {
	$R set greeting "hello world"
	$R get greeting
	$R incr counter
	$R lpush list a b c
	$R lrange list 0 -1
	$R hset h f1 v1 f2 v2
	$R hgetall h
	$R get nosuchkey
	$R incr greeting           # ERR value is not an integer
	$R nosuchcommand foo       # ERR unknown command
	$R set big "$(head -c 3000 /dev/zero | tr '\0' x)"
	printf 'MULTI\nSET a 1\nINCR a\nLPUSH a x\nEXEC\nMULTI\nSET b 2\nDISCARD\n' | $R
}
pipe() {
	printf 'SET k%d v%d\r\n' $(seq 1 40 | sed 's/.*/& &/') | $R --pipe
	redis-benchmark -p 16379 -c 1 -n 64 -P 16 -t set,get,lpush -q
}
resp3() {
	printf 'HELLO 3\nSET x 1\nGET x\nHGETALL h\nSMEMBERS nosuch\nINCR greeting\n' | $R -3
	# RESP3 subscriptions over a raw socket: the confirmations and messages are pushes.
	exec 3<>/dev/tcp/127.0.0.1/16379
	printf '*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nnews\r\n' >&3
	sleep 0.3
	$R publish news "first"
	$R publish news "second"
	printf '*1\r\n$4\r\nPING\r\n*1\r\n$11\r\nUNSUBSCRIBE\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n' >&3
	timeout 1 cat <&3 || true
	exec 3>&-
}
pubsub() {
	timeout 2 $R subscribe ch1 ch2 &
	local s1=$!
	timeout 2 $R psubscribe 'ch*' &
	local s2=$!
	sleep 0.5
	$R publish ch1 one
	$R publish ch2 two
	$R publish other three
	wait $s1 $s2 || true
	# inline commands over a raw socket
	exec 3<>/dev/tcp/127.0.0.1/16379
	printf 'PING\r\nSET inline "two words"\r\nGET inline\r\nQUIT\r\n' >&3
	timeout 1 cat <&3 || true
	exec 3>&-
}
cap cli cli
cap pipe pipe
cap resp3 resp3
cap pubsub pubsub
