#!/usr/bin/env bash
# Builds (once) a local test control plane from the Go module proxy and
# prints the directory holding its binaries: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, kwok and kwok's node
# stages.
#
#   bash hack/controlplane.sh [newest|oldest]
#
# newest (the default) pins tools/controlplane/go.mod: the newest Kubernetes
# release lifeboat supports, which `make test` runs against. oldest pins
# tools/controlplane/go.oldest.mod: the oldest release the README claims,
# which `make test-oldest` runs the agent, drain and e2e tests against. Both
# build the same cmd/ mains. The directory is keyed by a hash of everything
# that decides the build, so a cached build is reused across clones and
# rebuilt when pins move.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/tools/controlplane"
KWOK_VERSION=v0.8.0

variant=${1:-newest}
case "$variant" in
newest) modfile=go.mod ;;
oldest) modfile=go.oldest.mod ;;
*)
  echo "hack/controlplane.sh: unknown variant \"$variant\" (want newest or oldest)" >&2
  exit 2
  ;;
esac
sumfile=${modfile%.mod}.sum

key=$( { echo "variant $variant"; cat "$src/$modfile" "$src/$sumfile" "$src"/cmd/*/main.go; echo "kwok $KWOK_VERSION"; go env GOVERSION GOARCH; } | sha256sum | cut -c1-16)
cache="${LIFEBOAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}/controlplane/$key"

if [ -x "$cache/kwok" ] && [ -f "$cache/.complete" ]; then
  echo "$cache"
  exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "building the $variant local control plane into $cache (first run only; ~5-15 min on 2 cores)" >&2
(cd "$src" && CGO_ENABLED=0 go build -modfile="$modfile" -trimpath -ldflags=-s -o "$tmp/" ./cmd/...)
GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags=-s "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
kwokdir=$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
mkdir -p "$tmp/stages"
cp "$kwokdir/kustomize/stage/node/fast/node-initialize.yaml" \
   "$kwokdir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" "$tmp/stages/"
chmod -R u+w "$tmp"
for f in "$tmp"/*; do mv -f "$f" "$cache/"; done
touch "$cache/.complete"
echo "$cache"
