#!/usr/bin/env bash
# Synapse for federation interop tests: a throwaway test CA, TLS leaf certificates, and one
# Synapse homeserver on 127.0.0.1 (sqlite, open registration, test-sized rate limits) that
# federates only with servers on 127.0.0.0/8 whose certificates chain to the test CA.
#
#   synapse.sh venv                          ensure the venv; print its python
#   synapse.sh ca DIR                        write DIR/ca.crt + DIR/ca.key (a new test CA)
#   synapse.sh leaf DIR NAME CA_CERT CA_KEY  write DIR/NAME.crt + DIR/NAME.key, valid for
#                                            IP 127.0.0.1 and DNS localhost, signed by the CA
#   synapse.sh start DIR PORT_FED PORT_CLIENT CA_CERT CA_KEY
#                                            configure and start Synapse in DIR (created if
#                                            missing; database and signing key kept if there):
#                                            server_name 127.0.0.1:PORT_FED, federation over TLS
#                                            on 127.0.0.1:PORT_FED, client API over plain HTTP
#                                            on 127.0.0.1:PORT_CLIENT; returns once
#                                            /_matrix/client/versions answers (PID in
#                                            DIR/synapse.pid, logs in DIR/homeserver.log and
#                                            DIR/stdout.log)
#   synapse.sh stop DIR                      stop the Synapse started in DIR (by its PID)
#
# The venv lives at ${SYNAPSE_VENV:-$HOME/.cache/accord/venv-synapse} and is reinstalled only
# when requirements.txt (beside this script) or the interpreter changes. PYTHON picks the
# interpreter that creates it (default python3; Synapse needs >= 3.10). SYNAPSE_START_TIMEOUT
# (seconds, default 90) bounds the wait for a starting Synapse. SYNAPSE_APPSERVICE_FILES
# (space-separated paths) lists application service registrations for it to load.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SYNAPSE_VENV:-$HOME/.cache/accord/venv-synapse}"
requirements="$here/requirements.txt"
python_bin="${PYTHON:-python3}"

die() {
    echo "synapse.sh: $*" >&2
    exit 1
}

# --- venv: create once, (re)install only when requirements.txt or the interpreter changed -----
stamp_of() {
    { sha256sum "$requirements" | cut -d' ' -f1; "$1" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1
}
ensure_venv() {
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "synapse.sh: creating venv $venv" >&2
        mkdir -p "$(dirname "$venv")"
        "$python_bin" -m venv "$venv"
    fi
    local want_stamp
    want_stamp="$(stamp_of "$venv/bin/python")"
    if [[ "$(cat "$venv/.accord-requirements-stamp" 2>/dev/null || true)" != "$want_stamp" ]]; then
        echo "synapse.sh: installing $requirements into $venv" >&2
        local t0=$SECONDS
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements" >&2
        echo "$want_stamp" >"$venv/.accord-requirements-stamp"
        echo "synapse.sh: installed in $((SECONDS - t0)) s" >&2
    fi
}

# --- certificates ---------------------------------------------------------------------------
make_ca() {
    local dir="$1"
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" -subj "/CN=Accord interop test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" 2>/dev/null
}

make_leaf() {
    local dir="$1" name="$2" ca_cert="$3" ca_key="$4"
    mkdir -p "$dir"
    local ext="$dir/$name.ext"
    cat >"$ext" <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=localhost" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$ca_cert" -CAkey "$ca_key" -CAcreateserial \
        -days 2 -sha256 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
    rm -f "$dir/$name.csr" "$ext"
}

# --- start / stop ---------------------------------------------------------------------------
write_config() {
    local dir="$1" port_fed="$2" port_client="$3" ca_cert="$4"
    local secret
    secret="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    # Rate limits high enough that tests never wait on them.
    local rl='{per_second: 1000, burst_count: 1000}'
    # Application service registrations (SYNAPSE_APPSERVICE_FILES, space-separated paths).
    local appservices="app_service_config_files: []"
    if [[ -n "${SYNAPSE_APPSERVICE_FILES:-}" ]]; then
        appservices="app_service_config_files:"
        local file
        for file in $SYNAPSE_APPSERVICE_FILES; do
            appservices+=$'\n'"  - \"$file\""
        done
    fi
    cat >"$dir/homeserver.yaml" <<EOF
# Written by tests/synapse/synapse.sh: a throwaway test homeserver.
server_name: "127.0.0.1:$port_fed"
pid_file: "$dir/homeserver.pid"
public_baseurl: "http://127.0.0.1:$port_client/"
listeners:
  - port: $port_fed
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: true
    x_forwarded: false
    resources:
      - names: [federation]
        compress: false
  - port: $port_client
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
tls_certificate_path: "$dir/tls.crt"
tls_private_key_path: "$dir/tls.key"
database:
  name: sqlite3
  args:
    database: "$dir/homeserver.db"
log_config: "$dir/log.config"
media_store_path: "$dir/media_store"
signing_key_path: "$dir/signing.key"
report_stats: false
enable_metrics: false
presence:
  enabled: false
url_preview_enabled: false
enable_registration: true
enable_registration_without_verification: true
registration_shared_secret: "$secret"
macaroon_secret_key: "$secret"
form_secret: "$secret"
# No notary: keys are fetched from the origin server itself.
trusted_key_servers: []
suppress_key_server_warning: true
# Outbound federation: certificates must chain to the test CA (or the system roots).
federation_verify_certificates: true
federation_custom_ca_list:
  - "$ca_cert"
# Outbound requests may go to 127.0.0.0/8 and nowhere else. Federation has its own block list
# with no allow list (and Synapse checks IP-literal server names against the block list
# alone), so it lists every IPv4 range but 127.0.0.0/8, and all of IPv6.
ip_range_blacklist:
  - "0.0.0.0/0"
  - "::/0"
ip_range_whitelist:
  - "127.0.0.0/8"
federation_ip_range_blacklist:
  - "0.0.0.0/2"
  - "64.0.0.0/3"
  - "96.0.0.0/4"
  - "112.0.0.0/5"
  - "120.0.0.0/6"
  - "124.0.0.0/7"
  - "126.0.0.0/8"
  - "128.0.0.0/1"
  - "::/0"
# Synapse caches identical /sync requests for 2 minutes by default; tests poll, so don't.
caches:
  sync_response_cache_duration: 0
rc_message: $rl
rc_registration: $rl
rc_login:
  address: $rl
  account: $rl
  failed_attempts: $rl
rc_admin_redaction: $rl
rc_joins:
  local: $rl
  remote: $rl
rc_joins_per_room: $rl
rc_key_requests: $rl
rc_3pid_validation: $rl
rc_invites:
  per_room: $rl
  per_user: $rl
  per_issuer: $rl
rc_third_party_invite: $rl
rc_room_creation: $rl
rc_presence:
  per_user: $rl
rc_delayed_event_mgmt: $rl
rc_reports: $rl
rc_profile: $rl
rc_user_directory: $rl
rc_media_create: $rl
rc_federation:
  window_size: 1000
  sleep_limit: 10000
  sleep_delay: 1
  reject_limit: 10000
  concurrent: 100
$appservices
EOF
    cat >"$dir/log.config" <<EOF
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
filters:
  context:
    (): synapse.logging.context.LoggingContextFilter
handlers:
  file:
    class: logging.FileHandler
    filename: "$dir/homeserver.log"
    formatter: precise
    filters: [context]
loggers:
  synapse.storage.SQL:
    level: INFO
root:
  level: ${SYNAPSE_LOG_LEVEL:-INFO}
  handlers: [file]
disable_existing_loggers: false
EOF
}

start() {
    local dir="$1" port_fed="$2" port_client="$3" ca_cert="$4" ca_key="$5"
    [[ -f "$ca_cert" && -f "$ca_key" ]] || die "CA certificate or key not found: $ca_cert $ca_key"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    ca_cert="$(cd "$(dirname "$ca_cert")" && pwd)/$(basename "$ca_cert")"
    ca_key="$(cd "$(dirname "$ca_key")" && pwd)/$(basename "$ca_key")"
    if [[ -f "$dir/synapse.pid" ]] && kill -0 "$(cat "$dir/synapse.pid")" 2>/dev/null; then
        die "a Synapse is already running from $dir (pid $(cat "$dir/synapse.pid"))"
    fi
    ensure_venv
    local py="$venv/bin/python"
    [[ -f "$dir/tls.crt" && -f "$dir/tls.key" ]] || make_leaf "$dir" tls "$ca_cert" "$ca_key"
    write_config "$dir" "$port_fed" "$port_client" "$ca_cert"
    mkdir -p "$dir/media_store"
    # Writes the signing key if missing (and nothing else).
    (cd "$dir" && "$py" -m synapse.app.homeserver -c "$dir/homeserver.yaml" --generate-keys >/dev/null)

    local t0=$SECONDS
    echo "synapse.sh: starting Synapse 127.0.0.1:$port_fed (client http://127.0.0.1:$port_client, dir $dir)" >&2
    (cd "$dir" && exec "$py" -m synapse.app.homeserver -c "$dir/homeserver.yaml" >"$dir/stdout.log" 2>&1) &
    local pid=$!
    echo "$pid" >"$dir/synapse.pid"

    local deadline=$((SECONDS + ${SYNAPSE_START_TIMEOUT:-90}))
    until "$py" - "http://127.0.0.1:$port_client/_matrix/client/versions" <<'EOF' 2>/dev/null; do
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as resp:
    sys.exit(0 if resp.status == 200 and "versions" in json.load(resp) else 1)
EOF
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "synapse.sh: Synapse exited before answering /_matrix/client/versions" >&2
            tail -n 40 "$dir/stdout.log" "$dir/homeserver.log" >&2 2>/dev/null || true
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            echo "synapse.sh: Synapse did not answer /versions within ${SYNAPSE_START_TIMEOUT:-90} s" >&2
            tail -n 40 "$dir/stdout.log" "$dir/homeserver.log" >&2 2>/dev/null || true
            stop "$dir"
            exit 1
        fi
        sleep 0.3
    done
    echo "synapse.sh: Synapse is up (pid $pid, $((SECONDS - t0)) s)" >&2
}

stop() {
    local dir="$1"
    local pid
    pid="$(cat "$dir/synapse.pid" 2>/dev/null || true)"
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 75); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "synapse.sh: Synapse (pid $pid) ignored SIGTERM for 15 s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$dir/synapse.pid"
}

cmd="${1:-}"
case "$cmd" in
venv)
    [[ $# -eq 1 ]] || die "usage: synapse.sh venv"
    ensure_venv
    echo "$venv/bin/python"
    ;;
ca)
    [[ $# -eq 2 ]] || die "usage: synapse.sh ca DIR"
    make_ca "$2"
    ;;
leaf)
    [[ $# -eq 5 ]] || die "usage: synapse.sh leaf DIR NAME CA_CERT CA_KEY"
    make_leaf "$2" "$3" "$4" "$5"
    ;;
start)
    [[ $# -eq 6 ]] || die "usage: synapse.sh start DIR PORT_FED PORT_CLIENT CA_CERT CA_KEY"
    start "$2" "$3" "$4" "$5" "$6"
    ;;
stop)
    [[ $# -eq 2 ]] || die "usage: synapse.sh stop DIR"
    stop "$2"
    ;;
*)
    sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
