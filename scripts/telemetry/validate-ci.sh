#!/usr/bin/env bash
# `tasker doctor telemetry` against real components, without Docker: the
# debug binary serving on SQLite and exporting traces over OTLP/HTTP to the
# Python receiver beside this script (official OpenTelemetry protobuf
# definitions), and Prometheus from Debian's package scraping it every second
# with the rules shipped in docker/. Runs the check, the load variant, and two
# runs that must fail (a scrape job and a service that do not exist).
#
#   bash scripts/telemetry/validate-ci.sh [path/to/tasker]
set -euo pipefail
cd "$(dirname "$0")/../.."

tasker="${1:-target/debug/tasker}"
. scripts/lib/services.sh

echo "--- OTLP receiver (opentelemetry-proto)"
python_env "$work/venv" scripts/telemetry/requirements.txt
"$work/venv/bin/python" scripts/telemetry/otlp_receiver.py --port 0 --port-file "$work/receiver.port" \
  >"$work/receiver.log" 2>&1 &
keep
for _ in $(seq 1 100); do [ -s "$work/receiver.port" ] && break; sleep 0.1; done
traces="http://127.0.0.1:$(cat "$work/receiver.port")"
wait_for "$traces/health" "the OTLP receiver" "$work/receiver.log"

echo "--- tasker serve (SQLite, traces to $traces)"
tasker_port="$(free_port)"
server="http://127.0.0.1:${tasker_port}"
OTEL_EXPORTER_OTLP_ENDPOINT="$traces" OTEL_BSP_SCHEDULE_DELAY=200 start_tasker "$tasker" "$tasker_port"

echo "--- Prometheus (Debian's package) scraping $server every second"
bin="$(bash scripts/fetch-prometheus.sh)"
"$bin/prometheus" --version | head -1
prometheus_port="$(free_port)"
prometheus="http://127.0.0.1:${prometheus_port}"
cp docker/prometheus/alerts.yml "$work/alerts.yml"
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - alerts.yml
scrape_configs:
  - job_name: tasker
    static_configs:
      - targets: ["127.0.0.1:${tasker_port}"]
YAML
"$bin/promtool" check config "$work/prometheus.yml" >/dev/null
"$bin/prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:${prometheus_port}" >"$work/prometheus.log" 2>&1 &
keep
wait_for "$prometheus/-/ready" "Prometheus" "$work/prometheus.log"

doctor=("$tasker" doctor telemetry --server "$server" --prometheus "$prometheus" --traces "$traces")

echo "--- tasker doctor telemetry"
"${doctor[@]}" --timeout 30

echo "--- tasker doctor telemetry --load"
"${doctor[@]}" --timeout 30 --load --requests 200 --concurrency 16

expect_failure() { # WHAT PATTERN ARGS...
  local what="$1" pattern="$2"
  shift 2
  set +e
  out="$("${doctor[@]}" "$@" 2>&1)"
  code=$?
  set -e
  if [ "$code" -ne 1 ] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "$out"
    echo "expected the doctor to fail (exit 1, '$pattern') with $what; it exited $code" >&2
    exit 1
  fi
  echo "fails as it should with $what: $(grep -m1 -- "$pattern" <<<"$out" | sed 's/^ *//')"
}
echo "--- runs that must fail"
expect_failure "a scrape job Prometheus does not have" 'add a scrape job named "nobody"' --job nobody --timeout 5
expect_failure "spans expected from another service" 'came from service' --service someone-else --timeout 5

echo "--- telemetry validated"
