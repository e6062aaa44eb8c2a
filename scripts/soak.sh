#!/usr/bin/env bash
# Soak benchmark (not CI): a release build of imgbed with the hostile test policy, a quiet
# baseline of normal clients, then normal and hostile clients together for SOAK_MINUTES
# (30). Prints a CSV row every 10 s (RSS, open descriptors, p50/p99 of normal requests) and
# leaves both CSVs in the output folder (default target/soak). Loopback only.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
cd "$here/.."
minutes="${SOAK_MINUTES:-30}"
out="${1:-target/soak}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p imgbed-host --bin imgbed
# The hostile test policy the build script made (the newest, if several builds left one).
policy="$(find "$target/release/build" -name imgbed_test_policy.wasm -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)"
mkdir -p "$out"
dir="$(mktemp -d)"
cat >"$dir/config.json" <<JSON
{"port": 0, "auth": {"jwt": false}, "ip_filter": {"enabled": false}, "log": {"level": "warn", "files": false},
 "policy": {"path": "$policy", "deadline_ms": 2000, "memory_mb": 256}}
JSON
chmod 600 "$dir/config.json"
"$target/release/imgbed" --config "$dir/config.json" >"$dir/out.log" 2>"$dir/err.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$dir/out.log" && break; sleep 0.2; done
url="$(sed -n 's/^imgbed listening on //p' "$dir/out.log")"
echo "soak: imgbed pid $pid at $url; quiet baseline for 1 minute"
python3 "$here/soak.py" "$url" "$pid" 1 "$out/quiet.csv" quiet
echo "soak: normal and hostile clients for $minutes minutes"
python3 "$here/soak.py" "$url" "$pid" "$minutes" "$out/hostile.csv"
echo "soak: done; $out/quiet.csv and $out/hostile.csv"
