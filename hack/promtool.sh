#!/usr/bin/env bash
# Installs (once) a pinned promtool from the Go module proxy and prints the
# path of the binary. The chart's PrometheusRule is checked with
# `promtool check rules` (internal/deploytest). Prometheus' v0.x module tags
# are its 3.x releases (v0.316.0 is Prometheus 3.16.0).
set -euo pipefail

PROMTOOL_VERSION=v0.316.0

key="$PROMTOOL_VERSION-$(go env GOVERSION GOARCH | tr '\n' '-' | sed 's/-$//')"
cache="${LIFEBOAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}/tools/promtool-$key"

if [ -x "$cache/promtool" ]; then
  echo "$cache/promtool"
  exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "installing promtool $PROMTOOL_VERSION into $cache (first run only; a few minutes on 2 cores)" >&2
GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags="-s -w" "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
mv -f "$tmp/promtool" "$cache/promtool"
echo "$cache/promtool"
