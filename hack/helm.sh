#!/usr/bin/env bash
# Installs (once) a pinned helm from the Go module proxy and prints the path
# of the binary. helm.sh/helm/v3 has no replace directives in its go.mod, so
# `go install module@version` builds exactly the released source; the
# ldflags are the ones helm's own Makefile sets (version, and the Kubernetes
# version used for `helm template`/`helm lint` capabilities).
set -euo pipefail

HELM_VERSION=v3.22.0
K8S_MAJOR=1
K8S_MINOR=37

key="$HELM_VERSION-$(go env GOVERSION GOARCH | tr '\n' '-' | sed 's/-$//')"
cache="${LIFEBOAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/lifeboat}/tools/helm-$key"

if [ -x "$cache/helm" ]; then
  echo "$cache/helm"
  exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "installing helm $HELM_VERSION into $cache (first run only; a few minutes on 2 cores)" >&2
ldflags="-s -w"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $pkg.k8sVersionMajor=$K8S_MAJOR -X $pkg.k8sVersionMinor=$K8S_MINOR"
done
GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath -ldflags="$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
mv -f "$tmp/helm" "$cache/helm"
echo "$cache/helm"
