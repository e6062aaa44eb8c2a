#!/usr/bin/env bash
# Shared set-up for run.sh and test.sh: the wasm target the policy component builds for.
set -euo pipefail
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "setup: installing the wasm32-wasip2 target" >&2
  rustup target add wasm32-wasip2 >&2
fi
