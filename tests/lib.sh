# Shell helpers shared by the test runners under tests/ (source it; it defines functions only):
#
#   lib_ensure_venv VENV REQUIREMENTS [PIP_ARGS...]
#       create VENV with ${PYTHON:-python3} if missing; (re)install REQUIREMENTS only when the
#       file or the interpreter changed (a stamp in VENV/.accord-requirements-stamp)
#   lib_free_ports N
#       print N distinct free TCP ports on 127.0.0.1, space-separated
#   lib_accord_federation_config FILE SERVER_NAME DB CLIENT_PORT FED_PORT CERT KEY CA [LOG_FILTER]
#       write an Accord config: open registration, client API on 127.0.0.1:CLIENT_PORT (plain
#       HTTP), federation over TLS on 127.0.0.1:FED_PORT with CERT/KEY, peers' certificates
#       checked against CA, room version 11
#   lib_start_accord BIN CONFIG LOG URL [LABEL]
#       start `BIN serve --config CONFIG` (no ACCORD_* overrides from the environment), output
#       to LOG; sets lib_pid to its PID before waiting, then returns once URL answers
#       /_matrix/client/versions (fails if it exits first or takes over 30 s)
#   lib_wait_versions URL PID LABEL TIMEOUT
#       wait until URL/_matrix/client/versions answers; fails if PID exits first or on timeout
#   lib_stop_pid PID LABEL
#       SIGTERM, up to 10 s for it to exit, then SIGKILL; reaps it if it is our child
#
# Messages go to stderr, prefixed with ${lib_prefix:-lib.sh}.

lib_say() {
    echo "${lib_prefix:-lib.sh}: $*" >&2
}

lib_ensure_venv() {
    local venv="$1" requirements="$2"
    shift 2
    local python_bin="${PYTHON:-python3}"
    if [[ ! -x "$venv/bin/python" ]]; then
        lib_say "creating venv $venv"
        mkdir -p "$(dirname "$venv")"
        "$python_bin" -m venv "$venv"
    fi
    local want_stamp
    want_stamp="$({ sha256sum "$requirements" | cut -d' ' -f1
        "$venv/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
    if [[ "$(cat "$venv/.accord-requirements-stamp" 2>/dev/null || true)" != "$want_stamp" ]]; then
        lib_say "installing $requirements into $venv"
        local t0=$SECONDS
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet "$@" -r "$requirements" >&2
        echo "$want_stamp" >"$venv/.accord-requirements-stamp"
        lib_say "installed in $((SECONDS - t0)) s"
    else
        lib_say "reusing venv $venv (requirements unchanged)"
    fi
}

lib_free_ports() {
    "${PYTHON:-python3}" - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
}

lib_accord_federation_config() {
    local file="$1" server_name="$2" db="$3" client_port="$4" fed_port="$5" cert="$6" key="$7" ca="$8"
    local filter="${9:-info,ruma_state_res=warn}"
    cat >"$file" <<EOF
server_name = "$server_name"

[database]
path = "$db"

[client_api]
bind = "127.0.0.1:$client_port"

[federation]
enabled = true
bind = "127.0.0.1:$fed_port"
tls_cert = "$cert"
tls_key = "$key"
tls_ca_file = "$ca"

[registration]
mode = "open"

[rooms]
default_room_version = "11"

[logging]
filter = "$filter"
EOF
    lib_unlimited_rate_limits >>"$file"
}

# Prints a [rate_limits] table no test reaches: the suites measure behaviour, not limits (the
# limits have their own tests in crates/testkit/tests/client_api/rate_limits.rs). The same as
# RateLimitsConfig::unlimited() in Rust.
lib_unlimited_rate_limits() {
    local open='{ per_second = 1000000.0, burst_count = 1000000 }' class
    echo "[rate_limits]"
    for class in message registration registration_token_validity login_address login_account \
        login_failed_attempts joins_local joins_remote joins_per_room invites_per_room \
        invites_per_user invites_per_issuer room_creation media_create presence \
        delayed_event_mgmt reports key_requests user_directory; do
        echo "$class = $open"
    done
    echo "federation = { window_ms = 1000, sleep_limit = 1000000, sleep_delay_ms = 0, reject_limit = 1000000, concurrent = 1000 }"
}

# Sets `bin` to the absolute path of the accord binary: $1, or
# ${CARGO_TARGET_DIR:-target}/debug/accord; exits 2, naming the runner, if it isn't executable.
lib_accord_binary() {
    bin="${1:-${CARGO_TARGET_DIR:-target}/debug/accord}"
    if [[ ! -x "$bin" ]]; then
        echo "${lib_prefix:-tests}: accord binary not found or not executable: $bin" >&2
        exit 2
    fi
    bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
}

lib_wait_versions() {
    local url="$1" pid="$2" label="$3" timeout="$4"
    local deadline=$((SECONDS + timeout))
    until "${PYTHON:-python3}" - "$url/_matrix/client/versions" <<'EOF' 2>/dev/null; do
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as resp:
    sys.exit(0 if resp.status == 200 and "versions" in json.load(resp) else 1)
EOF
        if ! kill -0 "$pid" 2>/dev/null; then
            lib_say "$label exited before answering $url/_matrix/client/versions"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            lib_say "$label did not answer $url/_matrix/client/versions within $timeout s"
            return 1
        fi
        sleep 0.2
    done
}

lib_pid=""
lib_start_accord() {
    local bin="$1" config="$2" log="$3" url="$4" label="${5:-accord}"
    # Accord reads ACCORD_<SECTION>__<KEY> overrides from the environment (and rejects unknown
    # keys): start it with none, so the config file is all it sees.
    local env_unset=() name
    while IFS= read -r name; do
        env_unset+=(-u "$name")
    done < <(compgen -e | grep '^ACCORD_' || true)
    lib_say "starting $label: $bin serve --config $config (client $url, log $log)"
    env ${env_unset[@]+"${env_unset[@]}"} NO_COLOR=1 "$bin" serve --config "$config" >"$log" 2>&1 &
    lib_pid=$!
    lib_wait_versions "$url" "$lib_pid" "$label" 30 || return 1
    lib_say "$label is up (pid $lib_pid)"
}

lib_stop_pid() {
    local pid="$1" label="$2"
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local _
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            lib_say "$label (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}
