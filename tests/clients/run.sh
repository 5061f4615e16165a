#!/usr/bin/env bash
# Third-party client tests: run matrix-nio (pinned in requirements.txt) against a freshly
# started Accord on 127.0.0.1 - nio_account_test.py (accounts, devices, profile), then
# nio_rooms_test.py (rooms, messages, redactions, /messages pagination, /sync), then
# nio_media_test.py (avatar and image upload, download, thumbnails), then
# nio_conversations_test.py (edits, reactions, threads, search, spaces).
#
#   bash tests/clients/run.sh [path/to/accord]
#
# The binary defaults to ${CARGO_TARGET_DIR:-target}/debug/accord. The Python venv lives at
# ${CLIENT_TEST_VENV:-$HOME/.cache/accord/venv-clients} and is reused while requirements.txt is
# unchanged. Each run uses a new temp dir (config, database, server log), removed on exit; on
# failure the tail of the server log is printed first. PYTHON picks the interpreter that creates
# the venv (default python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
lib_prefix="run.sh"
lib_accord_binary "${1:-}"

venv="${CLIENT_TEST_VENV:-$HOME/.cache/accord/venv-clients}"
requirements="$here/requirements.txt"

# --- venv: create once, (re)install only when requirements.txt or the interpreter changed -----
lib_ensure_venv "$venv" "$requirements"
py="$venv/bin/python"

# --- temp dir, cleanup ----------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/accord-clients.XXXXXX")"
log="$tmp/server.log"
server_pid=""
log_shown=""

cleanup() {
    local rc=$?
    lib_stop_pid "$server_pid" accord
    if [[ $rc -ne 0 && -f "$log" && -z "$log_shown" ]]; then
        echo "---- accord server log (last 80 lines of $log) ----" >&2
        tail -n 80 "$log" >&2 || true
        echo "---- end of server log ----" >&2
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- config ---------------------------------------------------------------------------------
port="$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
secret="$("$py" -c 'import secrets; print(secrets.token_hex(32))')"
base_url="http://127.0.0.1:$port"
config="$tmp/accord.toml"
cat >"$config" <<EOF
server_name = "localhost"

[database]
path = "$tmp/db"

[client_api]
bind = "127.0.0.1:$port"

[registration]
mode = "open"
shared_secret = "$secret"

[logging]
filter = "info"
EOF
lib_unlimited_rate_limits >>"$config"

# --- server ---------------------------------------------------------------------------------
# lib_start_accord sets lib_pid before it waits, so a start that fails is still stopped.
if ! lib_start_accord "$bin" "$config" "$log" "$base_url" accord; then
    server_pid="$lib_pid"
    echo "run.sh: accord did not come up; its log:" >&2
    cat "$log" >&2
    log_shown=1
    exit 1
fi
server_pid="$lib_pid"

# --- the tests ------------------------------------------------------------------------------
# Both run against the same server, one after the other; the first failure ends the run.
NIO_TEST_SHARED_SECRET="$secret" "$py" "$here/nio_account_test.py" \
    --homeserver "$base_url" --server-name localhost
"$py" "$here/nio_rooms_test.py" --homeserver "$base_url" --server-name localhost
"$py" "$here/nio_media_test.py" --homeserver "$base_url" --server-name localhost
"$py" "$here/nio_conversations_test.py" --homeserver "$base_url" --server-name localhost
