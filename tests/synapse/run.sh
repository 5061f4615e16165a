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
# certificates in INTEROP_* variables. INTEROP_APPSERVICE_FILE names an application service
# registration both servers load (scripts/appservice-bench).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
lib_prefix="run.sh"
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
    lib_stop_pid "$accord_pid" accord
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
read -r syn_fed syn_client acc_fed acc_client < <(lib_free_ports 4)
bash "$synapse_sh" ca "$tmp/ca"
bash "$synapse_sh" leaf "$tmp/accord-tls" federation "$tmp/ca/ca.crt" "$tmp/ca/ca.key"

# --- Synapse --------------------------------------------------------------------------------
synapse_started=1
t_syn=$SECONDS
SYNAPSE_APPSERVICE_FILES="${INTEROP_APPSERVICE_FILE:-}" \
    bash "$synapse_sh" start "$synapse_dir" "$syn_fed" "$syn_client" "$tmp/ca/ca.crt" "$tmp/ca/ca.key"
echo "run.sh: synapse up in $((SECONDS - t_syn)) s"

# --- Accord (for INTEROP_SELF_CHECK=1, a second Synapse instead) ------------------------------
accord_server="127.0.0.1:$acc_fed"
accord_url="http://127.0.0.1:$acc_client"

start_accord() {
    lib_accord_federation_config "$tmp/accord.toml" "$accord_server" "$tmp/accord-db" "$acc_client" \
        "$acc_fed" "$tmp/accord-tls/federation.crt" "$tmp/accord-tls/federation.key" "$tmp/ca/ca.crt" \
        "${INTEROP_ACCORD_LOG:-info,ruma_state_res=warn}"
    if [[ -n "${INTEROP_APPSERVICE_FILE:-}" ]]; then
        printf '\n[appservice]\nregistration_files = ["%s"]\n' "$INTEROP_APPSERVICE_FILE" >>"$tmp/accord.toml"
    fi
    # An admin for the erasure step, made while the database is not open yet.
    "$bin" user create interop-admin --password "$admin_password" --admin --config "$tmp/accord.toml" >/dev/null
    # lib_start_accord sets lib_pid before it waits, so a start that fails is still stopped.
    lib_start_accord "$bin" "$tmp/accord.toml" "$accord_log" "$accord_url" accord || {
        accord_pid="$lib_pid"
        exit 1
    }
    accord_pid="$lib_pid"
}

admin_password="interop-admin-$RANDOM$RANDOM"
admin_args=()
if [[ -n "$self_check" ]]; then
    echo "run.sh: INTEROP_SELF_CHECK=1: a second Synapse stands in for Accord"
    bash "$synapse_sh" start "$peer_dir" "$acc_fed" "$acc_client" "$tmp/ca/ca.crt" "$tmp/ca/ca.key"
    label=synapse2
else
    start_accord
    label=accord
    admin_args=(--accord-admin-password "$admin_password")
fi

# --- the tests ------------------------------------------------------------------------------
t_test=$SECONDS
status=0
if [[ -n "${INTEROP_COMMAND:-}" ]]; then
    # Another program (the federation benchmark) instead of the tests, told where everything is.
    bash "$synapse_sh" leaf "$tmp/bench-tls" federation "$tmp/ca/ca.crt" "$tmp/ca/ca.key"
    INTEROP_ACCORD_URL="$accord_url" INTEROP_ACCORD_SERVER="$accord_server" INTEROP_ACCORD_PID="$accord_pid" \
        INTEROP_SYNAPSE_PID="$(cat "$synapse_dir/synapse.pid" 2>/dev/null || true)" \
        INTEROP_SYNAPSE_URL="http://127.0.0.1:$syn_client" INTEROP_SYNAPSE_SERVER="127.0.0.1:$syn_fed" \
        INTEROP_CA_CERT="$tmp/ca/ca.crt" INTEROP_BENCH_CERT="$tmp/bench-tls/federation.crt" \
        INTEROP_BENCH_KEY="$tmp/bench-tls/federation.key" \
        $INTEROP_COMMAND || status=$?
else
    "$python_bin" "$here/interop_test.py" \
        --accord-url "$accord_url" --accord-server "$accord_server" --accord-label "$label" \
        --synapse-url "http://127.0.0.1:$syn_client" --synapse-server "127.0.0.1:$syn_fed" \
        "${admin_args[@]}" "$@" || status=$?
fi
echo "run.sh: tests took $((SECONDS - t_test)) s"
exit "$status"
