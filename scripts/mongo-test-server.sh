#!/usr/bin/env bash
# Runs the MongoDB wire-protocol test server (nx-27017 from PyPI, in the test
# virtualenv) in the foreground: scripts/mongo-test-server.sh PORT DATA_DIR
# One SQLite file per database in DATA_DIR, so a restart keeps the data.
# neosqlite's fallback mode keeps booleans and dates set by update operators
# typed (see ../shared/TEST-SERVICES.md). Stop it by its PID.
set -euo pipefail
venv="${IMGBED_TEST_VENV:-$HOME/.cache/imgbed-test-venv}"
port="$1"
dir="$2"
mkdir -p "$dir"
exec "$venv/bin/python" -c '
import sys
from neosqlite.collection.query_helper.utils import set_force_fallback
set_force_fallback(True)
import nx_27017.nx_27017 as server
sys.argv = ["nx_27017"] + sys.argv[1:]
server.main()
' --data-dir "$dir" --host 127.0.0.1 -p "$port" --log-file "$dir/server.log" --pid-file "$dir/server.pid"
