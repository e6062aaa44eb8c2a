#!/usr/bin/env bash
# Runs every test: guest logic in the sandbox, and black-box tests of the real binary.
# Does its own set-up (wasm target); extra arguments go to `cargo test`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
cd "$here/.."
cargo test --locked "$@"
