#!/usr/bin/env bash
# Federation interop tests against Synapse: starts a Synapse (pinned in requirements.txt, via
# synapse.sh) and a freshly configured Accord on 127.0.0.1, federating with each other over TLS
# with certificates from a throwaway test CA, then runs interop_test.py (room versions 10-12,
# rooms created on either side: joins, messages, edits, redactions, invites (accepted and
# rejected), leave, ban, backfill, concurrent sends, /messages agreement). A full run against a
# working Accord takes about a minute; every propagation that never happens costs a 30 s wait.
#
#   bash tests/synapse/run.sh [path/to/accord] [interop_test.py options, e.g. --only 12a]
#
# The binary defaults to ${CARGO_TARGET_DIR:-target}/debug/accord. INTEROP_SELF_CHECK=1 puts a
# second Synapse where Accord would be (no binary needed): every step must pass then, which
# checks the test itself against a reference implementation. Server names are
# 127.0.0.1:<federation port> on both sides (no DNS, no well-known). The Synapse venv lives at
# ${SYNAPSE_VENV:-$HOME/.cache/accord/venv-synapse} and is reused while requirements.txt is
# unchanged. Each run uses a new temp dir (CA, configs, databases, logs), removed on exit unless
# KEEP_TMP=1; both servers are stopped by PID on exit, and on failure the tails of both logs
# are printed. INTEROP_LOG_LINES (default 80) sets how many lines of each. INTEROP_COMMAND runs
# another program instead of the tests (scripts/fed-bench), with the servers' addresses and
# certificates in INTEROP_* variables.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self_check="${INTEROP_SELF_CHECK:-}"
if [[ $# -gt 0 && "$1" != -* ]]; then
    bin="$1"
    shift
else
    bin="${CARGO_TARGET_DIR:-target}/debug/accord"
fi
if [[ -z "$self_check" ]]; then
    if [[ ! -x "$bin" ]]; then
        echo "run.sh: accord binary not found or not executable: $bin" >&2
        exit 2
    fi
    bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
fi
synapse_sh="$here/synapse.sh"
python_bin="${PYTHON:-python3}"
lines="${INTEROP_LOG_LINES:-80}"

# --- venv first (slow only the first time), outside the timed part --------------------------
t_venv=$SECONDS
bash "$synapse_sh" venv >/dev/null
echo "run.sh: synapse venv ready ($((SECONDS - t_venv)) s)"

# --- temp dir, cleanup ----------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/accord-synapse.XXXXXX")"
accord_log="$tmp/accord.log"
synapse_dir="$tmp/synapse"
peer_dir="$tmp/synapse2"
accord_pid=""
synapse_started=""

cleanup() {
    local rc=$?
    if [[ -n "$accord_pid" ]] && kill -0 "$accord_pid" 2>/dev/null; then
        kill -TERM "$accord_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$accord_pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$accord_pid" 2>/dev/null; then
            echo "run.sh: accord (pid $accord_pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
            kill -KILL "$accord_pid" 2>/dev/null || true
        fi
        wait "$accord_pid" 2>/dev/null || true
    fi
    if [[ -n "$synapse_started" ]]; then
        bash "$synapse_sh" stop "$synapse_dir" || true
        if [[ -n "$self_check" ]]; then
            bash "$synapse_sh" stop "$peer_dir" || true
        fi
    fi
    if [[ $rc -ne 0 ]]; then
        if [[ -f "$accord_log" ]]; then
            echo "---- accord log (last $lines lines of $accord_log) ----" >&2
            tail -n "$lines" "$accord_log" >&2 || true
        fi
        if [[ -f "$synapse_dir/homeserver.log" ]]; then
            echo "---- synapse log (last $lines lines of $synapse_dir/homeserver.log) ----" >&2
            tail -n "$lines" "$synapse_dir/homeserver.log" >&2 || true
        fi
        if [[ -s "$synapse_dir/stdout.log" ]]; then
            echo "---- synapse stdout/stderr (last 20 lines) ----" >&2
            tail -n 20 "$synapse_dir/stdout.log" >&2 || true
        fi
        if [[ -f "$peer_dir/homeserver.log" ]]; then
            echo "---- second synapse log (last $lines lines of $peer_dir/homeserver.log) ----" >&2
            tail -n "$lines" "$peer_dir/homeserver.log" >&2 || true
        fi
        echo "---- end of logs ----" >&2
    fi
    if [[ "${KEEP_TMP:-}" == 1 ]]; then
        echo "run.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ports, CA, certificates ----------------------------------------------------------------
read -r syn_fed syn_client acc_fed acc_client < <("$python_bin" -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
')
bash "$synapse_sh" ca "$tmp/ca"
bash "$synapse_sh" leaf "$tmp/accord-tls" federation "$tmp/ca/ca.crt" "$tmp/ca/ca.key"

# --- Synapse --------------------------------------------------------------------------------
synapse_started=1
t_syn=$SECONDS
bash "$synapse_sh" start "$synapse_dir" "$syn_fed" "$syn_client" "$tmp/ca/ca.crt" "$tmp/ca/ca.key"
echo "run.sh: synapse up in $((SECONDS - t_syn)) s"

# --- Accord (for INTEROP_SELF_CHECK=1, a second Synapse instead) ------------------------------
accord_server="127.0.0.1:$acc_fed"
accord_url="http://127.0.0.1:$acc_client"

start_accord() {
    config="$tmp/accord.toml"
    cat >"$config" <<EOF
server_name = "$accord_server"

[database]
path = "$tmp/accord-db"

[client_api]
bind = "127.0.0.1:$acc_client"

[federation]
enabled = true
bind = "127.0.0.1:$acc_fed"
tls_cert = "$tmp/accord-tls/federation.crt"
tls_key = "$tmp/accord-tls/federation.key"
tls_ca_file = "$tmp/ca/ca.crt"

[registration]
mode = "open"

[rooms]
default_room_version = "11"

[logging]
filter = "${INTEROP_ACCORD_LOG:-info,ruma_state_res=warn}"
EOF

    # Accord reads ACCORD_<SECTION>__<KEY> overrides from the environment (and rejects unknown
    # keys): start it with none, so the config file above is all it sees.
    env_unset=()
    while IFS= read -r name; do
        env_unset+=(-u "$name")
    done < <(compgen -e | grep '^ACCORD_' || true)

    echo "run.sh: starting $bin serve ($accord_server, client $accord_url, log $accord_log)"
    env ${env_unset[@]+"${env_unset[@]}"} NO_COLOR=1 "$bin" serve --config "$config" >"$accord_log" 2>&1 &
    accord_pid=$!

    deadline=$((SECONDS + 30))
    until "$python_bin" - "$accord_url/_matrix/client/versions" <<'EOF' 2>/dev/null; do
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as resp:
    sys.exit(0 if resp.status == 200 and "versions" in json.load(resp) else 1)
EOF
        if ! kill -0 "$accord_pid" 2>/dev/null; then
            echo "run.sh: accord exited before answering /_matrix/client/versions" >&2
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            echo "run.sh: accord did not answer $accord_url/_matrix/client/versions within 30 s" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "run.sh: accord is up (pid $accord_pid)"
}

if [[ -n "$self_check" ]]; then
    echo "run.sh: INTEROP_SELF_CHECK=1: a second Synapse stands in for Accord"
    bash "$synapse_sh" start "$peer_dir" "$acc_fed" "$acc_client" "$tmp/ca/ca.crt" "$tmp/ca/ca.key"
    label=synapse2
else
    start_accord
    label=accord
fi

# --- the tests ------------------------------------------------------------------------------
t_test=$SECONDS
status=0
if [[ -n "${INTEROP_COMMAND:-}" ]]; then
    # Another program (the federation benchmark) instead of the tests, told where everything is.
    bash "$synapse_sh" leaf "$tmp/bench-tls" federation "$tmp/ca/ca.crt" "$tmp/ca/ca.key"
    INTEROP_ACCORD_URL="$accord_url" INTEROP_ACCORD_SERVER="$accord_server" \
        INTEROP_SYNAPSE_URL="http://127.0.0.1:$syn_client" INTEROP_SYNAPSE_SERVER="127.0.0.1:$syn_fed" \
        INTEROP_CA_CERT="$tmp/ca/ca.crt" INTEROP_BENCH_CERT="$tmp/bench-tls/federation.crt" \
        INTEROP_BENCH_KEY="$tmp/bench-tls/federation.key" \
        $INTEROP_COMMAND || status=$?
else
    "$python_bin" "$here/interop_test.py" \
        --accord-url "$accord_url" --accord-server "$accord_server" --accord-label "$label" \
        --synapse-url "http://127.0.0.1:$syn_client" --synapse-server "127.0.0.1:$syn_fed" \
        "$@" || status=$?
fi
echo "run.sh: tests took $((SECONDS - t_test)) s"
exit "$status"
