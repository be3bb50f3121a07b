# Sourced by the scripts that run Tasker beside real tools (schemathesis,
# Prometheus, the OTLP receiver): a scratch directory and the processes
# started with `keep`, both cleaned up on exit, and the waits they share.

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Remember the last background process, to stop it on exit.
keep() { pids+=($!); }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for URL WHAT LOG: until URL answers 2xx; else show LOG's end and fail.
wait_for() {
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$2 did not come up at $1; its log:" >&2
  tail -n 40 "$3" >&2 || true
  exit 1
}

# python_env DIR REQUIREMENTS: a virtual environment with them installed.
python_env() {
  python3 -m venv "$1"
  "$1/bin/pip" install --quiet --disable-pip-version-check -r "$2"
}

# start_tasker BINARY PORT: `tasker serve` on SQLite in $work with the example
# templates, logging to $work/tasker.log, until it is ready (the caller's
# environment, e.g. OTEL_* variables, passes through).
start_tasker() {
  "$1" --database-url "sqlite://$work/tasker.db?mode=rwc" --log-format json \
    serve --listen "127.0.0.1:$2" --templates examples/templates >"$work/tasker.log" 2>&1 &
  keep
  wait_for "http://127.0.0.1:$2/health/ready" "tasker" "$work/tasker.log"
}
