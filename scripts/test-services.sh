#!/usr/bin/env bash
# Starts the servers the tests talk to, on free loopback ports, and writes
# their addresses as `export` lines to the file named by $1:
#   - an SMTP server (aiosmtpd, from PyPI, in a virtualenv) storing mail in a Maildir.
# The same virtualenv holds schemathesis for scripts/schemathesis.sh.
# Each server's PID goes into $1.pids; scripts/test.sh stops them by PID.
set -euo pipefail
out="$1"
venv="${IMGBED_TEST_VENV:-$HOME/.cache/imgbed-test-venv}"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null \
   || [ ! -x "$venv/bin/schemathesis" ]; then
  echo "test-services: installing aiosmtpd and schemathesis into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'aiosmtpd==1.4.6' 'schemathesis==4.32.5'
fi
free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

work="$(mktemp -d "${TMPDIR:-/tmp}/imgbed-test-services.XXXXXX")"
smtp_port="$(free_port)"
maildir="$work/maildir"
mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
"$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox "$maildir" \
  >"$work/smtp.log" 2>&1 &
echo $! >>"$out.pids"

# Wait until it answers (bounded).
for _ in $(seq 1 100); do
  if "$venv/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1',$smtp_port),0.2)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
"$venv/bin/python" -c "import socket; socket.create_connection(('127.0.0.1',$smtp_port),1)" \
  || { echo "test-services: SMTP server did not start" >&2; cat "$work/smtp.log" >&2; exit 1; }

cat >"$out" <<VARS
export IMGBED_TEST_SMTP="127.0.0.1:$smtp_port"
export IMGBED_TEST_MAILDIR="$maildir"
export IMGBED_TEST_SERVICES_DIR="$work"
VARS
