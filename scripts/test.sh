#!/usr/bin/env bash
# Runs every test: schemathesis against the live server's own OpenAPI document,
# then guest logic in the sandbox, the web UI in headless Chromium, and black-box tests of the real binary against
# real servers on loopback (SMTP, MongoDB protocol, S3), on SQLite and again on MongoDB, and the suites that
# touch files once more with the files in S3. Does its own set-up (wasm target, test
# servers, stopped by PID at the end); extra arguments go to `cargo test`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
# Debian's chromium and axe-core for the browser tests (tests/browser.rs).
bash "$here/browser-setup.sh"
cd "$here/.."
# House rules: no import cycle between sibling modules, no source file over 400 lines.
python3 "$here/check-structure.py"

vars="$(mktemp "${TMPDIR:-/tmp}/imgbed-test-vars.XXXXXX")"
cleanup() {
  if [ -f "$vars.pids" ]; then
    pids="$(cat "$vars.pids")"
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    # A server slow to stop (SeaweedFS may ignore the first signal) is killed after 5 s:
    # none outlives the run (it would also hold whatever the run inherited, e.g. a lock).
    for _ in $(seq 1 50); do
      alive=0
      for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  fi
  if [ -f "$vars" ]; then
    # shellcheck disable=SC1090
    . "$vars"
    rm -rf "${IMGBED_TEST_SERVICES_DIR:-/nonexistent}"
  fi
  rm -f "$vars" "$vars.pids"
}
trap cleanup EXIT
bash "$here/test-services.sh" "$vars"
# shellcheck disable=SC1090
. "$vars"
if [ "$#" -eq 0 ]; then
  cargo build --locked -p imgbed-host --bin imgbed
  # The default policy's own unit tests, natively (its decoders and parsers as a library).
  cargo test --locked -p imgbed-policy --no-default-features --lib
  bash "$here/schemathesis.sh"
fi
cargo test --locked "$@"
if [ "$#" -eq 0 ]; then
  # The storage-level and black-box suites again, on MongoDB (the wire-protocol test server).
  IMGBED_TEST_ENGINE=mongo cargo test --locked \
    --test store --test api --test accounts --test media --test swap --test operations --test migrate \
    --test safety --test crash --test backup --test variants --test listing
fi
if [ "$#" -eq 0 ]; then
  # The suites that touch files, with the files in S3 (the SeaweedFS test server); the two-host
  # suite on MongoDB + S3.
  IMGBED_TEST_BLOB=s3 cargo test --locked --test api --test accounts --test media --test migrate --test backup --test variants
  IMGBED_TEST_ENGINE=mongo IMGBED_TEST_BLOB=s3 cargo test --locked --test multihost
fi
