#!/usr/bin/env bash
# pgo.sh BINDIR: writes cmd/capture/default.pgo, the CPU profile that `go build` uses for
# profile-guided optimization of the sidecar (-pgo=auto picks up default.pgo in the main
# package's directory, so make capture, the images and the benchmarks all use it).
#
# The profile is the whole replay (decode, JSON, export) of every load capture in BINDIR, one
# core each, with stdout output, and the mixed captures once more with Kafka output to a kfake
# process on 127.0.0.1: the same work the sidecar does for users, weighted by how long each
# part takes. Run from the repository's root after make load-pcaps and the gRPC and MongoDB
# captures.
set -euo pipefail
bin=$(realpath -- "$1")
out=cmd/capture/default.pgo
tmp=$(mktemp -d)
kfake=
cleanup() {
	if [[ -n $kfake ]]; then kill "$kfake" 2>/dev/null || true; wait "$kfake" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# The test binary without a profile, so that one profile does not shape the next.
go test -pgo=off -c -o "$tmp/capture.test" ./cmd/capture
profiles=()
replay() { # replay NAME ARGS...: one profile of BenchmarkReplayStdout or Kafka
	local name=$1
	shift
	echo "pgo: profiling $name"
	(cd cmd/capture && GOMAXPROCS=1 "$tmp/capture.test" -test.run '^$' -test.benchtime 2x \
		-test.cpuprofile "$tmp/$name.prof" "$@" >/dev/null)
	profiles+=("$tmp/$name.prof")
}
for p in pgsql mysql redis redis-rr http dns tls grpc mongodb; do
	f=$bin/$p-load.pcap
	[[ -f $f ]] || { echo "pgo: $f is missing (make load-pcaps)" >&2; exit 1; }
	replay "$p" -test.bench ReplayStdout -replay-pcap "$f"
done

go build -o "$tmp/kfake" ./test/kafkatest/cmd/kfake
port=$((20000 + RANDOM % 9000))
"$tmp/kfake" -port "$port" -data "$tmp/kafka" -partitions 4 >"$tmp/kfake.log" 2>&1 &
kfake=$!
sleep 1
for p in pgsql mysql redis-rr http dns; do
	replay "$p-kafka" -test.bench ReplayKafka -replay-pcap "$bin/$p-load.pcap" -replay-brokers "127.0.0.1:$port"
done

go tool pprof -proto "${profiles[@]}" >"$tmp/merged.pgo" 2>/dev/null
mv "$tmp/merged.pgo" "$out"
echo "pgo: wrote $out ($(stat -c %s "$out") bytes, ${#profiles[@]} profiles)"
