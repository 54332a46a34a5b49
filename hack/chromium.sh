#!/usr/bin/env bash
# Finds (or installs once, from Debian's `chromium` package) a headless
# Chromium and prints the path of the binary. The HTML report of
# `lifeboat plan -o html` is loaded in it by internal/cli's browser test.
# LIFEBOAT_CHROMIUM overrides the search.
set -euo pipefail

if [ -n "${LIFEBOAT_CHROMIUM:-}" ] && [ -x "$LIFEBOAT_CHROMIUM" ]; then
  echo "$LIFEBOAT_CHROMIUM"
  exit 0
fi
for c in chromium chromium-browser google-chrome; do
  if p=$(command -v "$c" 2>/dev/null); then
    echo "$p"
    exit 0
  fi
done
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found and cannot be installed here (needs root and apt-get)" >&2
  exit 1
fi
echo "installing Debian's chromium package (first run only)" >&2
{
  apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
} >&2
command -v chromium
