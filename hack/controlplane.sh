#!/usr/bin/env bash
# Builds (once) the local test control plane from the Go module proxy and
# prints the directory holding its binaries: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok and kwok's node
# stages. The directory is keyed by a hash of everything that decides the
# build, so a cached build is reused across clones and rebuilt when pins move.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/tools/controlplane"
KWOK_VERSION=v0.8.0

key=$( { cat "$src/go.mod" "$src/go.sum" "$src"/cmd/*/main.go; echo "kwok $KWOK_VERSION"; go env GOVERSION GOARCH; } | sha256sum | cut -c1-16)
cache="${LIFEBOAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}/controlplane/$key"

if [ -x "$cache/kwok" ] && [ -f "$cache/.complete" ]; then
  echo "$cache"
  exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "building the local control plane into $cache (first run only; ~5 min on 2 cores)" >&2
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags=-s -o "$tmp/" ./cmd/...)
GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags=-s "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
kwokdir=$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
mkdir -p "$tmp/stages"
cp "$kwokdir/kustomize/stage/node/fast/node-initialize.yaml" \
   "$kwokdir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" "$tmp/stages/"
chmod -R u+w "$tmp"
for f in "$tmp"/*; do mv -f "$f" "$cache/"; done
touch "$cache/.complete"
echo "$cache"
