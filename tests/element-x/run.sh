#!/usr/bin/env bash
# Element X's SDK against Accord: builds tests/element-x (matrix-rust-sdk 0.18 from crates.io,
# its own workspace) and runs it against Accord A and a Synapse S on 127.0.0.1, federating
# over TLS with certificates from a throwaway test CA (../synapse/synapse.sh). alice and bob
# log in on A, carol on S; all three run the SDK's SyncService over simplified sliding sync
# (MSC4186) and exchange plain and encrypted messages (see src/main.rs).
#
#   bash tests/element-x/run.sh [path/to/accord]
#
# The binary defaults to ${CARGO_TARGET_DIR:-target}/debug/accord; the test program builds
# into the same CARGO_TARGET_DIR (about 7 minutes the first time on 2 cores, seconds after).
# Server names are 127.0.0.1:<federation port>. Each run uses a new temp dir (CA, configs,
# databases, logs), removed on exit unless KEEP_TMP=1; every server is stopped by PID on
# exit, and on failure the tails of the server logs are printed (ELEMENT_X_LOG_LINES,
# default 80). RUST_LOG (e.g. matrix_sdk=debug) is passed to the test program.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
lib_prefix="element-x/run.sh"
lib_accord_binary "${1:-}"
synapse_sh="$here/../synapse/synapse.sh"
lines="${ELEMENT_X_LOG_LINES:-80}"

# --- the test program and the Synapse venv, outside the timed part ---------------------------
t_build=$SECONDS
cargo build --quiet --manifest-path "$here/Cargo.toml"
test_bin="${CARGO_TARGET_DIR:-$here/target}/debug/accord-element-x-test"
bash "$synapse_sh" venv >/dev/null
echo "element-x/run.sh: test program and Synapse venv ready ($((SECONDS - t_build)) s)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/accord-element-x.XXXXXX")"
pid_a=""
cleanup() {
    local rc=$?
    lib_stop_pid "$pid_a" "accord A"
    bash "$synapse_sh" stop "$tmp/s" || true
    if [[ $rc -ne 0 ]]; then
        for log in "$tmp/A/accord.log" "$tmp/s/homeserver.log"; do
            if [[ -s "$log" ]]; then
                echo "---- last $lines lines of $log ----" >&2
                tail -n "$lines" "$log" >&2 || true
            fi
        done
    fi
    if [[ "${KEEP_TMP:-}" == 1 ]]; then
        echo "element-x/run.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r a_fed a_client s_fed s_client < <(lib_free_ports 4)
bash "$synapse_sh" ca "$tmp/ca"
t_start=$SECONDS
bash "$synapse_sh" start "$tmp/s" "$s_fed" "$s_client" "$tmp/ca/ca.crt" "$tmp/ca/ca.key"
mkdir -p "$tmp/A"
bash "$synapse_sh" leaf "$tmp/A" federation "$tmp/ca/ca.crt" "$tmp/ca/ca.key"
lib_accord_federation_config "$tmp/A/accord.toml" "127.0.0.1:$a_fed" "$tmp/A/db" "$a_client" "$a_fed" \
    "$tmp/A/federation.crt" "$tmp/A/federation.key" "$tmp/ca/ca.crt" "${ELEMENT_X_ACCORD_LOG:-}"
lib_start_accord "$bin" "$tmp/A/accord.toml" "$tmp/A/accord.log" "http://127.0.0.1:$a_client" "accord A" \
    || { pid_a="$lib_pid"; exit 1; }
pid_a="$lib_pid"
echo "element-x/run.sh: servers up in $((SECONDS - t_start)) s"

t_test=$SECONDS
status=0
timeout 600 "$test_bin" --accord "http://127.0.0.1:$a_client" --synapse "http://127.0.0.1:$s_client" || status=$?
echo "element-x/run.sh: test took $((SECONDS - t_test)) s"
exit "$status"
