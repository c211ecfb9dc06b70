#!/usr/bin/env bash
# ensure-packages.sh installs the Debian packages that the demo and the tests need, when they are
# missing. It is the one list: .ci/run and `make demo` call it, and test/demo asks it (--check)
# what is missing.
#
#   hack/ensure-packages.sh [--check] [demo|all]
#
# demo: what `make demo` runs (the node's tools and the libraries its build needs, ip, setpriv,
# the five servers and their clients, what make images reads). all (default): demo plus the
# tests' oracles (tcpdump, tshark, kcat). --check installs nothing: it prints what is missing
# and exits 1 if anything is.
set -euo pipefail

# CMD:PACKAGE pairs. CMD is a command on PATH, or an absolute path pattern (PostgreSQL's server
# binaries are not on PATH).
DEMO_PACKAGES=(
	ip:iproute2 setpriv:util-linux taskset:util-linux
	mariadbd:mariadb-server mariadb:mariadb-client mariadb-slap:mariadb-client
	'/usr/lib/postgresql/*/bin/postgres:postgresql' psql:postgresql-client
	dnsmasq:dnsmasq-base dig:bind9-dnsutils
	redis-server:redis-server redis-cli:redis-tools redis-benchmark:redis-tools
	'/usr/sbin/nginx:nginx' curl:curl
	# The real node (test/node): kube-proxy, the kubelet and portmap program iptables; kube-proxy
	# uses conntrack; runc builds with libseccomp through pkg-config (make node-bins); the images
	# carry Debian's CA certificates and time zones.
	iptables:iptables ip6tables:iptables conntrack:conntrack pkg-config:pkg-config
	iptables-save:iptables nsenter:util-linux mount:mount
	'/usr/include/seccomp.h:libseccomp-dev' '/etc/ssl/certs/ca-certificates.crt:ca-certificates'
	'/usr/share/zoneinfo/UTC:tzdata'
)
# The TLS tests and captures make certificates and connect with openssl, and use Python's ssl.
TLS_PACKAGES=(openssl:openssl python3:python3)
# The capture tests use tcpdump and tshark as independent oracles; kcat is an independent Kafka
# consumer; nghttp is the HTTP/2 client with several streams on one connection (curl 7.88 sends
# one request per prior-knowledge connection); dumpcap records several interfaces into one
# pcapng file.
TEST_PACKAGES=(tcpdump:tcpdump tshark:tshark dumpcap:wireshark-common kcat:kcat nghttp:nghttp2-client)
# The MongoDB capture tests drive FerretDB (bin/ferretdb, hack/build-ferretdb.sh) with pymongo.
TEST_PACKAGES+=('/usr/lib/python3/dist-packages/pymongo:python3-pymongo')
# make bench builds Packetbeat, the peer it is measured against, with cgo against libpcap.
TEST_PACKAGES+=('/usr/include/pcap/pcap.h:libpcap-dev')

# missing_packages CMD:PACKAGE... prints "PACKAGE (CMD)" for each CMD that is absent.
missing_packages() {
	local pair want
	for pair in "$@"; do
		want=${pair%%:*}
		if [[ $want == /* ]]; then
			compgen -G "$want" >/dev/null && continue
		else
			command -v "$want" >/dev/null 2>&1 && continue
		fi
		echo "${pair#*:} ($want)"
	done
}

# ensure_packages CMD:PACKAGE... installs the Debian PACKAGE of each CMD that is missing.
ensure_packages() {
	local missing=() line
	while read -r line; do
		[[ -n $line ]] && missing+=("${line%% *}")
	done < <(missing_packages "$@")
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	# Several commands come from one package.
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "missing packages: ${missing[*]}; there is no apt-get here, so install them with this system's package manager (the names are Debian's)" >&2
		return 1
	fi
	echo "installing Debian packages: ${missing[*]}"
	local sudo=()
	if ((EUID != 0)); then
		if ! command -v sudo >/dev/null 2>&1; then
			echo "installing ${missing[*]} needs root: run this as root, or install sudo" >&2
			return 1
		fi
		sudo=(sudo)
	fi
	# Installing must not start the packages' services (nginx on :80, redis-server, mariadb):
	# the tests and the demo start their own servers inside network namespaces.
	local policy=/usr/sbin/policy-rc.d added=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
		"${sudo[@]}" chmod 755 "$policy"
		added=1
	fi
	"${sudo[@]}" apt-get update
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
	if ((added)); then
		"${sudo[@]}" rm -f "$policy"
	fi
}

main() {
	local check=0 set=all
	while (($#)); do
		case $1 in
		--check) check=1 ;;
		demo | all) set=$1 ;;
		*)
			echo "usage: $0 [--check] [demo|all]" >&2
			return 2
			;;
		esac
		shift
	done
	local pairs=("${DEMO_PACKAGES[@]}")
	if [[ $set == all ]]; then
		pairs+=("${TEST_PACKAGES[@]}" "${TLS_PACKAGES[@]}")
	fi
	if ((check)); then
		local missing
		missing=$(missing_packages "${pairs[@]}")
		if [[ -n $missing ]]; then
			echo "missing Debian packages (and the command each provides):"
			echo "$missing" | sed 's/^/  /'
			echo "install them with: hack/ensure-packages.sh $set   (as root; make demo runs it)"
			return 1
		fi
		return 0
	fi
	ensure_packages "${pairs[@]}"
}

main "$@"
