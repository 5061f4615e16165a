#!/usr/bin/env bash
# Application services with a real bridge framework: a freshly started Accord with one
# registration file, a bridge built on mautrix-python (bridge.py, its own process on
# 127.0.0.1), and a person using matrix-nio (appservice_test.py). Both pinned in
# requirements.txt.
#
#   bash tests/appservice/run.sh [path/to/accord]
#
# The binary defaults to ${CARGO_TARGET_DIR:-target}/debug/accord. The venv lives at
# ${APPSERVICE_TEST_VENV:-$HOME/.cache/accord/venv-appservice}. Each run uses a new temp dir
# (config, registration, database, logs), removed on exit (kept with APPSERVICE_TEST_KEEP=1); on failure the tails of the server
# and bridge logs are printed first.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
lib_prefix="appservice/run.sh"
lib_accord_binary "${1:-}"

venv="${APPSERVICE_TEST_VENV:-$HOME/.cache/accord/venv-appservice}"
lib_ensure_venv "$venv" "$here/requirements.txt"
py="$venv/bin/python"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/accord-appservice.XXXXXX")"
server_log="$tmp/server.log"
bridge_out="$tmp/bridge.jsonl"
bridge_err="$tmp/bridge.log"
server_pid=""
bridge_pid=""

cleanup() {
    local rc=$?
    lib_stop_pid "$bridge_pid" bridge
    lib_stop_pid "$server_pid" accord
    if [[ $rc -ne 0 ]]; then
        for file in "$server_log" "$bridge_err" "$bridge_out"; do
            if [[ -f "$file" ]]; then
                echo "---- last 60 lines of $(basename "$file") ----" >&2
                tail -n 60 "$file" >&2 || true
            fi
        done
    fi
    if [[ -n "${APPSERVICE_TEST_KEEP:-}" ]]; then
        echo "appservice/run.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r port bridge_port < <(lib_free_ports 2)
as_token="$("$py" -c 'import secrets; print(secrets.token_hex(32))')"
hs_token="$("$py" -c 'import secrets; print(secrets.token_hex(32))')"
base_url="http://127.0.0.1:$port"
echo_ts=1641168000000 # 2022-01-03, the bridge's massaged timestamp

cat >"$tmp/bridge.yaml" <<YAML
id: accord-test-bridge
url: "http://127.0.0.1:$bridge_port"
as_token: "$as_token"
hs_token: "$hs_token"
sender_localpart: bridgebot
rate_limited: false
receive_ephemeral: true
de.sorunome.msc2409.push_ephemeral: true
namespaces:
  users:
    - exclusive: true
      regex: "@bridge_.*:localhost"
  aliases:
    - exclusive: true
      regex: "#bridge_.*:localhost"
  rooms: []
YAML

cat >"$tmp/accord.toml" <<TOML
server_name = "localhost"

[database]
path = "$tmp/db"

[client_api]
bind = "127.0.0.1:$port"

[registration]
mode = "open"

[appservice]
registration_files = ["$tmp/bridge.yaml"]

[logging]
filter = "info,accord_service::appservice=debug"
TOML
lib_unlimited_rate_limits >>"$tmp/accord.toml"

if ! lib_start_accord "$bin" "$tmp/accord.toml" "$server_log" "$base_url" accord; then
    server_pid="$lib_pid"
    echo "appservice/run.sh: accord did not come up" >&2
    exit 1
fi
server_pid="$lib_pid"

"$py" "$here/bridge.py" --hs-url "$base_url" --domain localhost --port "$bridge_port" \
    --id accord-test-bridge --as-token "$as_token" --hs-token "$hs_token" \
    --bot-localpart bridgebot --prefix bridge_ --invitee "@alice:localhost" --echo-ts "$echo_ts" \
    >"$bridge_out" 2>"$bridge_err" &
bridge_pid=$!

"$py" "$here/appservice_test.py" --homeserver "$base_url" --server-name localhost \
    --bridge-log "$bridge_out" --as-token "$as_token" --appservice-id accord-test-bridge \
    --echo-ts "$echo_ts"

# The bridge answers a request without its hs_token with 401 (aiohttp's access log shows it);
# none may have come from Accord.
if grep -E 'HTTP/1\.[01]" 401 ' "$bridge_err" >&2; then
    echo "appservice/run.sh: the bridge refused a request from Accord (above)" >&2
    exit 1
fi
echo "appservice/run.sh: passed"
