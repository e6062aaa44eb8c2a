#!/usr/bin/env bash
# Builds imgbed (release) with the built-in policy and starts it.
# Defaults: config.json in the current folder (created at first start), SQLite, local files.
# Extra arguments go to the server, e.g. `scripts/run.sh --port 8080`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
cargo build --release --locked --manifest-path "$here/../Cargo.toml" -p imgbed-host --bin imgbed
target="${CARGO_TARGET_DIR:-$here/../target}"
exec "$target/release/imgbed" "$@"
