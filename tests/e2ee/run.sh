#!/usr/bin/env bash
# End-to-end encryption tests with a real E2EE client: matrix-nio[e2e] (pinned in
# requirements.txt, crypto by vodozemac) against three federating homeservers on 127.0.0.1 -
# Accord A, Accord B (two separate processes, databases and ports) and a Synapse S (via
# ../synapse/synapse.sh), federating over TLS with certificates from a throwaway test CA - then
# e2ee_test.py: alice on A, bob on B, carol on S in one encrypted room; olm/megolm messages
# decrypted across all three servers (/keys/upload, /keys/query, /keys/claim, /sendToDevice
# with m.room_key, to_device in /sync, locally and over federation), plain to-device messages
# delivered exactly once (also on a re-PUT of the same txnId), cross-signing keys and
# signatures (UIA, invalid-signature failures, seen from the other servers), server-side key
# backup restored on a new device, a new device showing up on the other servers, and (a4) a
# remote join passed on by the resident server to the room's third server.
#
#   bash tests/e2ee/run.sh [path/to/accord] [e2ee_test.py options, e.g. --timeout 10]
#
# The binary defaults to ${CARGO_TARGET_DIR:-target}/debug/accord. E2EE_SELF_CHECK=1 puts two
# Synapses where the Accords would be (no binary needed): every step must pass then, which
# checks the test itself against a reference implementation. Server names are
# 127.0.0.1:<federation port>. The client venv lives at
# ${E2EE_TEST_VENV:-$HOME/.cache/accord/venv-e2ee} (wheels only), the Synapse venv at
# ${SYNAPSE_VENV:-$HOME/.cache/accord/venv-synapse}; both are reused while their
# requirements.txt is unchanged. Each run uses a new temp dir (CA, configs, databases, logs,
# nio stores), removed on exit unless KEEP_TMP=1; every server is stopped by PID on exit, and
# on failure the tails of all server logs are printed (E2EE_LOG_LINES, default 60, lines
# each). A run where everything works takes about a minute; every propagation that never
# happens costs one --timeout (default 30 s).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
lib_prefix="e2ee/run.sh"
self_check="${E2EE_SELF_CHECK:-}"
if [[ $# -gt 0 && "$1" != -* ]]; then
    bin="$1"
    shift
else
    bin="${CARGO_TARGET_DIR:-target}/debug/accord"
fi
if [[ -z "$self_check" ]]; then
    if [[ ! -x "$bin" ]]; then
        echo "e2ee/run.sh: accord binary not found or not executable: $bin" >&2
        exit 2
    fi
    bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
fi
synapse_sh="$here/../synapse/synapse.sh"
lines="${E2EE_LOG_LINES:-60}"

# --- venvs first (slow only the first time), outside the timed part --------------------------
t_venv=$SECONDS
lib_ensure_venv "${E2EE_TEST_VENV:-$HOME/.cache/accord/venv-e2ee}" "$here/requirements.txt" \
    --only-binary=:all:
py="${E2EE_TEST_VENV:-$HOME/.cache/accord/venv-e2ee}/bin/python"
bash "$synapse_sh" venv >/dev/null
echo "e2ee/run.sh: venvs ready ($((SECONDS - t_venv)) s)"

# --- temp dir, cleanup ----------------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/accord-e2ee.XXXXXX")"
pid_a=""
pid_b=""
synapses=() # dirs of the Synapses started (stopped by the PID in DIR/synapse.pid)

show_log() {
    local title="$1" file="$2" n="$3"
    if [[ -s "$file" ]]; then
        echo "---- $title (last $n lines of $file) ----" >&2
        tail -n "$n" "$file" >&2 || true
    fi
}

cleanup() {
    local rc=$?
    lib_stop_pid "$pid_a" "accord A"
    lib_stop_pid "$pid_b" "accord B"
    local dir
    for dir in ${synapses[@]+"${synapses[@]}"}; do
        bash "$synapse_sh" stop "$dir" || true
    done
    if [[ $rc -ne 0 ]]; then
        show_log "accord A log" "$tmp/A/accord.log" "$lines"
        show_log "accord B log" "$tmp/B/accord.log" "$lines"
        for dir in "$tmp/a-synapse" "$tmp/b-synapse" "$tmp/s"; do
            show_log "synapse $(basename "$dir") log" "$dir/homeserver.log" "$lines"
            show_log "synapse $(basename "$dir") stdout/stderr" "$dir/stdout.log" 20
        done
        echo "---- end of logs ----" >&2
    fi
    if [[ "${KEEP_TMP:-}" == 1 ]]; then
        echo "e2ee/run.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- ports, CA ------------------------------------------------------------------------------
read -r a_fed a_client b_fed b_client s_fed s_client < <(lib_free_ports 6)
bash "$synapse_sh" ca "$tmp/ca"
ca_cert="$tmp/ca/ca.crt"
ca_key="$tmp/ca/ca.key"

t_start=$SECONDS

# --- S: Synapse ------------------------------------------------------------------------------
synapses+=("$tmp/s")
bash "$synapse_sh" start "$tmp/s" "$s_fed" "$s_client" "$ca_cert" "$ca_key"

# --- A and B: Accord (for E2EE_SELF_CHECK=1, Synapses instead) -------------------------------
start_accord() {
    local name="$1" fed="$2" client="$3"
    local dir="$tmp/$name"
    mkdir -p "$dir"
    bash "$synapse_sh" leaf "$dir" federation "$ca_cert" "$ca_key"
    lib_accord_federation_config "$dir/accord.toml" "127.0.0.1:$fed" "$dir/db" "$client" "$fed" \
        "$dir/federation.crt" "$dir/federation.key" "$ca_cert" "${E2EE_ACCORD_LOG:-}"
    lib_start_accord "$bin" "$dir/accord.toml" "$dir/accord.log" "http://127.0.0.1:$client" \
        "accord $name"
}

if [[ -n "$self_check" ]]; then
    echo "e2ee/run.sh: E2EE_SELF_CHECK=1: Synapses stand in for Accord A and B"
    synapses+=("$tmp/a-synapse")
    bash "$synapse_sh" start "$tmp/a-synapse" "$a_fed" "$a_client" "$ca_cert" "$ca_key"
    synapses+=("$tmp/b-synapse")
    bash "$synapse_sh" start "$tmp/b-synapse" "$b_fed" "$b_client" "$ca_cert" "$ca_key"
    label_a=synapse-a
    label_b=synapse-b
else
    # lib_start_accord sets lib_pid before it waits, so a start that fails is still stopped.
    start_accord A "$a_fed" "$a_client" || { pid_a="$lib_pid"; exit 1; }
    pid_a="$lib_pid"
    start_accord B "$b_fed" "$b_client" || { pid_b="$lib_pid"; exit 1; }
    pid_b="$lib_pid"
    label_a=accord-A
    label_b=accord-B
fi
echo "e2ee/run.sh: servers up in $((SECONDS - t_start)) s"

# --- the tests ------------------------------------------------------------------------------
t_test=$SECONDS
status=0
"$py" "$here/e2ee_test.py" \
    --a-url "http://127.0.0.1:$a_client" --a-server "127.0.0.1:$a_fed" --a-label "$label_a" \
    --b-url "http://127.0.0.1:$b_client" --b-server "127.0.0.1:$b_fed" --b-label "$label_b" \
    --s-url "http://127.0.0.1:$s_client" --s-server "127.0.0.1:$s_fed" --s-label synapse-S \
    --store "$tmp/nio-stores" \
    "$@" || status=$?
echo "e2ee/run.sh: tests took $((SECONDS - t_test)) s"
exit "$status"
