#!/usr/bin/env bash
# build-ferretdb.sh builds FerretDB, the MongoDB wire-protocol server the mongodb capture tests
# talk to (its SQLite backend needs no other server), into OUT from the Go module proxy alone.
#
#   hack/build-ferretdb.sh OUT [VERSION]
#
# FerretDB v1.24.0 as published panics at start because its build/version/version.txt is
# empty, so the module is copied out of the module cache, that file is filled in, and the copy
# is built as the main module (with the module's own go.sum).
set -euo pipefail

out=${1:?usage: build-ferretdb.sh OUT [VERSION]}
version=${2:-v1.24.0}
out=$(realpath -m "$out")

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# Outside any module, so the repository's go.mod is not consulted or changed.
dir=$(cd "$work" && GOFLAGS=-mod=mod GO111MODULE=on go mod download -json "github.com/FerretDB/FerretDB@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [[ -z $dir || ! -d $dir ]]; then
	echo "build-ferretdb.sh: go mod download gave no directory for FerretDB $version" >&2
	exit 1
fi
cp -R "$dir" "$work/src"
chmod -R u+w "$work/src"
printf '%s\n' "$version" >"$work/src/build/version/version.txt"
mkdir -p "$(dirname "$out")"
cd "$work/src" && CGO_ENABLED=0 go build -trimpath -o "$out" ./cmd/ferretdb
echo "built $out (FerretDB $version)"
