#!/usr/bin/env bash
# build-steps.sh TARGET... runs `make TARGET` for each TARGET in turn as a numbered step, so that
# a long first build (the node's binaries from source: tens of minutes on 2 cores) shows what it
# is building, step N of M and the time so far, with a "still building" line every
# BUILD_STEPS_TICK seconds (default 30) while a step runs. `make demo` uses it.
set -euo pipefail

tick=${BUILD_STEPS_TICK:-30}
if (($# == 0)); then
	echo "usage: $0 TARGET..." >&2
	exit 2
fi
if ! [[ $tick =~ ^[1-9][0-9]*$ ]]; then
	echo "BUILD_STEPS_TICK=$tick: must be a positive number of seconds" >&2
	exit 2
fi

start=$SECONDS
elapsed() { # elapsed SECONDS prints 2m10s
	local s=$1
	if ((s >= 60)); then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

ticker=
stop_ticker() {
	if [[ -n $ticker ]]; then
		kill "$ticker" 2>/dev/null || true
		wait "$ticker" 2>/dev/null || true
		ticker=
	fi
}
trap stop_ticker EXIT

n=0
for target in "$@"; do
	n=$((n + 1))
	step_start=$SECONDS
	# make -q exits 0 when the target is up to date: say so rather than "building".
	if make -q --no-print-directory "$target" >/dev/null 2>&1; then
		echo "==> [$n/$#] $target: up to date ($(elapsed $((SECONDS - start))) so far)"
		continue
	fi
	echo "==> [$n/$#] building $target ($(elapsed $((SECONDS - start))) so far)"
	# make runs in the foreground, so Ctrl-C reaches it and its compilers; the ticker is a
	# background subshell that only prints.
	(
		# The sleep is waited for, so that stopping the ticker stops its sleep too.
		trap 'kill $! 2>/dev/null; exit 0' TERM
		while :; do
			sleep "$tick" &
			wait $!
			echo "    still building $target ($(elapsed $((SECONDS - step_start))); $(elapsed $((SECONDS - start))) in all)"
		done
	) &
	ticker=$!
	if ! make --no-print-directory "$target"; then
		stop_ticker
		echo "==> [$n/$#] $target failed after $(elapsed $((SECONDS - step_start)))" >&2
		exit 1
	fi
	stop_ticker
	echo "    $target done in $(elapsed $((SECONDS - step_start)))"
done
echo "==> built in $(elapsed $((SECONDS - start)))"
