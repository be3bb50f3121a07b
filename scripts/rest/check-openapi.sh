#!/usr/bin/env bash
# Schemathesis (PyPI) against a running debug binary's /openapi.json: every
# check (schemathesis 4 enables them all by default) on every operation (no 5xx, each status, header, content type and
# body as documented, schema-valid input accepted, invalid input refused),
# with a bounded number of examples per operation. Exceptions are listed, with
# their reasons, in schemathesis.toml beside this script.
#
# One worker: schemathesis's workers are threads, and on CPython 3.11 before
# 3.11.8 two threads parsing source at once (hypothesis does, to describe
# lambdas) can fail with "SystemError: AST constructor recursion depth
# mismatch" (CPython gh-106905) -- a crash of the fuzzer, not of the API.
#
#   bash scripts/rest/check-openapi.sh [path/to/tasker] [max examples]
set -euo pipefail
cd "$(dirname "$0")/../.."

tasker="${1:-target/debug/tasker}"
examples="${2:-25}"
. scripts/lib/services.sh

python_env "$work/venv" scripts/rest/requirements.txt
port="$(free_port)"
start_tasker "$tasker" "$port"

config="$PWD/scripts/rest/schemathesis.toml"
set +e
# From the scratch directory: schemathesis and hypothesis keep their caches
# (.schemathesis/, .hypothesis/) in the working directory.
(cd "$work" && "$work/venv/bin/schemathesis" --config-file "$config" run \
  "http://127.0.0.1:${port}/openapi.json" --max-examples "$examples" \
  --workers 1 --seed 1 --no-color)
code=$?
set -e
if [ "$code" -ne 0 ]; then
  echo "schemathesis failed; the server's last log lines:" >&2
  tail -n 30 "$work/tasker.log" >&2
  exit "$code"
fi
