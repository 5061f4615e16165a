#!/usr/bin/env bash
# Third-party client tests: run matrix-nio (pinned in requirements.txt) against a freshly
# started Accord on 127.0.0.1 - nio_account_test.py (accounts, devices, profile), then
# nio_rooms_test.py (rooms, messages, redactions, /messages pagination, /sync).
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
bin="${1:-${CARGO_TARGET_DIR:-target}/debug/accord}"
if [[ ! -x "$bin" ]]; then
    echo "run.sh: accord binary not found or not executable: $bin" >&2
    exit 2
fi
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

venv="${CLIENT_TEST_VENV:-$HOME/.cache/accord/venv-clients}"
requirements="$here/requirements.txt"
python_bin="${PYTHON:-python3}"

# --- venv: create once, (re)install only when requirements.txt or the interpreter changed -----
stamp_of() {
    { sha256sum "$requirements" | cut -d' ' -f1; "$1" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}
if [[ ! -x "$venv/bin/python" ]]; then
    echo "run.sh: creating venv $venv"
    mkdir -p "$(dirname "$venv")"
    "$python_bin" -m venv "$venv"
fi
want_stamp="$(stamp_of "$venv/bin/python")"
if [[ "$(cat "$venv/.accord-requirements-stamp" 2>/dev/null || true)" != "$want_stamp" ]]; then
    echo "run.sh: installing $requirements into $venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"
    echo "$want_stamp" >"$venv/.accord-requirements-stamp"
else
    echo "run.sh: reusing venv $venv (requirements unchanged)"
fi
py="$venv/bin/python"

# --- temp dir, cleanup ----------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/accord-clients.XXXXXX")"
log="$tmp/server.log"
server_pid=""
log_shown=""

cleanup() {
    local rc=$?
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            echo "run.sh: accord (pid $server_pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
            kill -KILL "$server_pid" 2>/dev/null || true
        fi
        wait "$server_pid" 2>/dev/null || true
    fi
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

# --- server ---------------------------------------------------------------------------------
# Accord reads ACCORD_<SECTION>__<KEY> overrides from the environment (and rejects unknown
# keys, e.g. CLIENT_TEST_VENV): start it with none, so the config file above is all it sees.
env_unset=()
while IFS= read -r name; do
    env_unset+=(-u "$name")
done < <(compgen -e | grep '^ACCORD_' || true)

echo "run.sh: starting $bin serve on $base_url (log: $log)"
env ${env_unset[@]+"${env_unset[@]}"} "$bin" serve --config "$config" >"$log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + 30))
until "$py" - "$base_url/_matrix/client/versions" <<'EOF' 2>/dev/null
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as resp:
    sys.exit(0 if resp.status == 200 and "versions" in json.load(resp) else 1)
EOF
do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "run.sh: accord exited before answering /_matrix/client/versions; its log:" >&2
        cat "$log" >&2
        log_shown=1
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "run.sh: accord did not answer $base_url/_matrix/client/versions within 30 s; its log:" >&2
        cat "$log" >&2
        log_shown=1
        exit 1
    fi
    sleep 0.2
done
echo "run.sh: accord is up (pid $server_pid)"

# --- the tests ------------------------------------------------------------------------------
# Both run against the same server, one after the other; the first failure ends the run.
NIO_TEST_SHARED_SECRET="$secret" "$py" "$here/nio_account_test.py" \
    --homeserver "$base_url" --server-name localhost
"$py" "$here/nio_rooms_test.py" --homeserver "$base_url" --server-name localhost
