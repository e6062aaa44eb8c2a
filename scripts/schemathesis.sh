#!/usr/bin/env bash
# Property-based API tests: schemathesis (PyPI) against a live server with the
# server's own OpenAPI document. No 5xx, every answer matches the documented
# status codes, content types and schemas. Uses the binary of the current build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${IMGBED_TEST_VENV:-$HOME/.cache/imgbed-test-venv}"
bin="${CARGO_TARGET_DIR:-$here/../target}/debug/imgbed"
work="$(mktemp -d "${TMPDIR:-/tmp}/imgbed-schemathesis.XXXXXX")"
cat >"$work/config.json" <<JSON
{"port": 0, "auth": {"jwt": true}, "ip_filter": {"enabled": false}, "log": {"level": "warn", "files": false}}
JSON
"$bin" --config "$work/config.json" >"$work/out.log" 2>"$work/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
url=""
for _ in $(seq 1 300); do
  url="$(grep -o 'http://[0-9.:]*' "$work/out.log" || true)"
  [ -n "$url" ] && break
  sleep 0.2
done
[ -n "$url" ] || { echo "schemathesis: the server did not start" >&2; cat "$work/err.log" >&2; exit 1; }
admin="$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin_token"])' "$work/secrets.json")"
# Run from the scratch folder: schemathesis keeps its cache in the working directory.
(cd "$work" && "$venv/bin/schemathesis" run "$url/api/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${IMGBED_SCHEMATHESIS_EXAMPLES:-25}" --request-timeout 20 --seed "${IMGBED_SCHEMATHESIS_SEED:-1}" \
  -H "Authorization: Bearer $admin")
