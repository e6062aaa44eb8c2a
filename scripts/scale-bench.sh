#!/usr/bin/env bash
# Scale benchmark: the same reads with 1,000 and with 1,000,000 records (SQLite), each
# install seeded by copying one real upload's record (new names, digests and times) and
# hard-linking its file under every new name; prints time to ready after start, then
# `image_list` (first and a middle page, by number and by cursor), `image_info` and GET (one stored file, and a
# different record each request) with wrk, and the server's RSS.
#
#   bash scripts/scale-bench.sh                      # 1,000 and 1,000,000 records
#   SCALE_RECORDS="1000 100000" bash scripts/scale-bench.sh
#   BENCH_SECONDS=5 bash scripts/scale-bench.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bash "$here/setup.sh"
cd "$here/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/imgbed-target}"
seconds="${BENCH_SECONDS:-8}"
sizes="${SCALE_RECORDS:-1000 1000000}"
command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }

# Hard links cost no data blocks, but the folder and the database do: ~0.5 GB per million.
largest=$(tr ' ' '\n' <<<"$sizes" | sort -n | tail -1)
need_kb=$(( largest / 1000 + 512 * 1024 ))
free_kb=$(df -Pk "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}')
if [ "$free_kb" -lt "$need_kb" ]; then
  echo "scale-bench: $((free_kb / 1024)) MB free in ${TMPDIR:-/tmp}, need ~$((need_kb / 1024)) MB" >&2
  exit 1
fi

cargo build --locked --release -q -p imgbed-host --bin imgbed
bin="${BENCH_BIN:-$CARGO_TARGET_DIR/release/imgbed}"

work="$(mktemp -d "${TMPDIR:-/tmp}/imgbed-scale.XXXXXX")"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

python3 "$here/noise-png.py" "$work/noise.png"

start() { # dir -> sets $server and $ready_ms (milliseconds from start to ready)
  local dir="$1" t0 t1
  t0=$(date +%s%N)
  (cd "$dir" && exec "$bin" --config "$dir/config.json" >"$dir/imgbed.log" 2>&1) &
  server=$!
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && break
    sleep 0.01
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" || { cat "$dir/imgbed.log" >&2; exit 1; }
  t1=$(date +%s%N)
  ready_ms=$(( (t1 - t0) / 1000000 ))
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
rss() { awk '/VmRSS/ {print int($2 / 1024) " MB"}' "/proc/$server/status"; }
run_wrk() { # label url [wrk args...]
  local label="$1" url="$2"; shift 2
  local out
  out="$(wrk -t2 -c32 -d"${seconds}s" --latency "$@" "$url")"
  printf '  %-40s %10s req/s   p50 %8s   p99 %8s\n' "$label" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="50%" {print $2}' <<<"$out")" \
    "$(awk '$1=="99%" {print $2}' <<<"$out")"
}

echo "imgbed $(git rev-parse --short HEAD) · $(nproc) cores · ${seconds}s per line"
for n in $sizes; do
  dir="$work/n$n"
  mkdir -p "$dir"
  cat >"$dir/config.json" <<EOF
{"port": $port, "bind": "127.0.0.1", "auth": {"jwt": false}, "ip_filter": {"enabled": false},
 "log": {"level": "warn", "files": false}, "connections": {"max": 4096, "max_per_ip": 4096},
 "database": {"sqlite": "$dir/imgbed.db"}, "server": {"image_path": "$dir/images"}}
EOF
  start "$dir"
  answer="$(curl -fsS -F "file=@$work/noise.png" "http://127.0.0.1:$port/api/image_upload")"
  name="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["files"][0]["name"])' <<<"$answer")"
  stop
  # The seed: n - 1 more records like the uploaded one, each with its own name, digest and
  # time, its file a hard link to the uploaded file.
  t0=$(date +%s)
  python3 - "$dir/imgbed.db" "$dir/images" "$name" "$n" <<'EOF'
import os, shutil, sqlite3, sys
db, images, name, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = sqlite3.connect(db)
cols = [r[1] for r in c.execute("PRAGMA table_info(images)") if r[1] != "id"]
row = dict(zip(cols, c.execute(f"SELECT {','.join(cols)} FROM images WHERE name = ?", (name,)).fetchone()))
src = os.path.join(images, name)
# A file takes at most 65,000 links (ext4): a fresh copy of it every 60,000.
def source(i):
    k = i // 60000
    if k == 0:
        return src
    path = os.path.join(images, f".seed{k}")
    if not os.path.exists(path):
        shutil.copyfile(src, path)
    return path
def rows():
    for i in range(1, n):
        r = dict(row)
        r["name"] = f"s{i:07d}.png"
        r["digest"] = f"{i:064x}"
        r["time"] = row["time"] - n + i
        r["delete_key"] = None
        if "thumb" in r:
            r["thumb"] = 0  # no thumbnail was linked for the seeded names
        os.link(source(i), os.path.join(images, r["name"]))
        yield tuple(r[k] for k in cols)
with c:
    c.executemany(f"INSERT INTO images ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", rows())
c.close()
EOF
  seeded=$(( $(date +%s) - t0 ))
  start "$dir"
  echo
  echo "$n records (seeded in ${seeded}s; database $(du -h "$dir/imgbed.db" | cut -f1)): ready ${ready_ms} ms after start, RSS $(rss)"
  # Reconciliation (files against records) runs after ready, beside the traffic; the
  # figures below are taken once it is done.
  t0=$(date +%s%N)
  for _ in $(seq 1 1200); do
    curl -fsS "http://127.0.0.1:$port/readyz" | grep -q '"state":"done"\|"state":"failed"' && break
    sleep 0.25
  done
  echo "  reconciliation done $(( ($(date +%s%N) - t0) / 1000000 + ready_ms )) ms after start:" \
    "$(curl -fsS "http://127.0.0.1:$port/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["reconciliation"])' | cut -c1-100);" \
    "RSS $(rss), peak $(awk '/VmHWM/ {print int($2 / 1024) " MB"}' "/proc/$server/status")"
  mid=$(( n / 2 / 50 + 1 ))
  run_wrk "image_list, first page of 50" "http://127.0.0.1:$port/api/image_list?per_page=50"
  run_wrk "image_list, page $mid of 50 (middle)" "http://127.0.0.1:$port/api/image_list?per_page=50&page=$mid"
  # The same middle page by cursor: the `next` of the page before it.
  after=$(curl -fsS "http://127.0.0.1:$port/api/image_list?per_page=50&page=$(( mid > 1 ? mid - 1 : 1 ))" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["next"] or "")')
  if [ -n "$after" ]; then
    run_wrk "image_list, the middle page by cursor (after=)" "http://127.0.0.1:$port/api/image_list?per_page=50&after=$after"
  fi
  run_wrk "image_info" "http://127.0.0.1:$port/api/image_info?name=$name"
  run_wrk "GET one stored file" "http://127.0.0.1:$port/images/$name"
  # A different record (and file name) each request.
  cat >"$work/spread.lua" <<EOF
local n = $n
request = function()
  local i = math.random(1, n - 1)
  return wrk.format("GET", string.format("/images/s%07d.png", i))
end
EOF
  if [ "$n" -gt 1 ]; then run_wrk "GET a random record each request" "http://127.0.0.1:$port/" -s "$work/spread.lua"; fi
  echo "  after the reads: RSS $(rss), peak $(awk '/VmHWM/ {print int($2 / 1024) " MB"}' "/proc/$server/status")"
  stop
  rm -rf "$dir"
done
