#!/usr/bin/env bash
# One bounded run of one fuzz target, on one core, from the committed seeds.
# Usage: guest/fuzz/run.sh TARGET RUNS SECONDS   (build first: see FUZZING.md)
set -euo pipefail
target=$1 runs=$2 secs=$3
here=$(cd "$(dirname "$0")" && pwd)
bin=${CARGO_TARGET_DIR:-$here/target}/x86_64-unknown-linux-gnu/release/$target
corpus=${FUZZ_CORPUS:-$here/corpus}/$target
mkdir -p "$corpus" "$here/artifacts/$target"
exec nice -n 19 "$bin" -timeout=5 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
  -runs="$runs" -max_total_time="$secs" -artifact_prefix="$here/artifacts/$target/" \
  "$corpus" "$here/corpus-seeds/$target"
