#!/usr/bin/env bash
# Installs (once) a pinned ko from the Go module proxy and prints the path of
# the binary. ko builds lifeboat's container image from .ko.yaml without a
# Docker engine (see .ko.yaml): `VERSION=v1.2.3
# KO_DOCKER_REPO=ghcr.io/lifeboat-dev/lifeboat $(hack/ko.sh) build --bare
# --push=false --tarball=dist/lifeboat-image.tar ./cmd/lifeboat`.
set -euo pipefail

KO_VERSION=v0.19.1

key="$KO_VERSION-$(go env GOVERSION GOARCH | tr '\n' '-' | sed 's/-$//')"
cache="${LIFEBOAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}/tools/ko-$key"

if [ -x "$cache/ko" ]; then
  echo "$cache/ko"
  exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "installing ko $KO_VERSION into $cache (first run only)" >&2
GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags="-s -w" "github.com/google/ko@$KO_VERSION"
mv -f "$tmp/ko" "$cache/ko"
echo "$cache/ko"
