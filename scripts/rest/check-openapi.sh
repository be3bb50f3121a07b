#!/usr/bin/env bash
# Schemathesis (PyPI) against a running debug binary's /openapi.json: every
# check (schemathesis 4 enables them all by default) on every operation (no 5xx, each status, header, content type and
# body as documented, schema-valid input accepted, invalid input refused),
# with a bounded number of examples per operation. Exceptions are listed, with
# their reasons, in schemathesis.toml beside this script.
#
#   bash scripts/rest/check-openapi.sh [path/to/tasker] [max examples]
set -euo pipefail
cd "$(dirname "$0")/../.."

tasker="${1:-target/debug/tasker}"
examples="${2:-25}"
work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/rest/requirements.txt

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$tasker" --database-url "sqlite://$work/tasker.db?mode=rwc" --log-format json \
  serve --listen "127.0.0.1:${port}" --templates examples/templates >"$work/tasker.log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "http://127.0.0.1:${port}/health/ready" 2>/dev/null && break
  sleep 0.2
done

set +e
"$work/venv/bin/schemathesis" --config-file scripts/rest/schemathesis.toml run \
  "http://127.0.0.1:${port}/openapi.json" --max-examples "$examples" \
  --workers 2 --seed 1 --no-color
code=$?
set -e
if [ "$code" -ne 0 ]; then
  echo "schemathesis failed; the server's last log lines:" >&2
  tail -n 30 "$work/tasker.log" >&2
  exit "$code"
fi
