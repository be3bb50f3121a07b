#!/usr/bin/env bash
# Prints a directory holding `prometheus` and `promtool`: the ones on PATH
# when both are there, else Debian's prometheus package unpacked (not
# installed: its service would try to start) under target/prometheus-deb.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  dirname "$(command -v prometheus)"
  exit 0
fi
dir="$PWD/target/prometheus-deb"
if [ ! -x "$dir/root/usr/bin/prometheus" ]; then
  mkdir -p "$dir"
  (cd "$dir" && rm -f prometheus_*.deb \
    && { apt-get download -qq prometheus 2>/dev/null || { apt-get update -qq && apt-get download -qq prometheus; }; } \
    && dpkg -x prometheus_*.deb root) >&2
fi
echo "$dir/root/usr/bin"
