#!/usr/bin/env bash
# Single sign-on and the OAuth 2.0 API through real OpenID Connect providers: two
# panva/oidc-provider instances (providers.mjs, their own node process on 127.0.0.1), an
# Accord configured with both and with [oauth] on, and
#   - headless Chromium (Debian's, driven by playwright-core) logging people in through
#     Accord's pages and the providers', both with m.login.sso and as an OAuth client with
#     PKCE (sso.mjs); screenshots of every page go to
#     ${OIDC_TEST_SHOTS:-${CARGO_TARGET_DIR:-target}/test-output/oidc};
#   - matrix-rust-sdk (Element X's SDK, tests/element-x's accord-oauth-test) completing the
#     OAuth flow: dynamic registration, authorization code with PKCE, refresh, revocation.
#
#   bash tests/oidc/run.sh [path/to/accord]
#
# Node packages are pinned in package-lock.json and installed with `npm ci` into
# tests/oidc/node_modules. Each run uses a new temp dir (config, database, logs), removed on
# exit (kept with OIDC_TEST_KEEP=1); on failure the tails of the logs are printed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
lib_prefix="oidc/run.sh"
lib_accord_binary "${1:-}"
[[ -x /usr/bin/chromium ]] || { echo "oidc/run.sh: /usr/bin/chromium missing (scripts/setup installs it)" >&2; exit 2; }
if [[ ! -d "$here/node_modules/oidc-provider" || ! -d "$here/node_modules/playwright-core" ]]; then
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
shots="${OIDC_TEST_SHOTS:-${CARGO_TARGET_DIR:-$here/../../target}/test-output/oidc}"
cargo build --quiet --manifest-path "$here/../element-x/Cargo.toml" --bin accord-oauth-test
sdk_test="${CARGO_TARGET_DIR:-$here/../element-x/target}/debug/accord-oauth-test"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/accord-oidc.XXXXXX")"
server_log="$tmp/server.log"
providers_log="$tmp/providers.log"
server_pid=""
providers_pid=""

cleanup() {
    local rc=$?
    lib_stop_pid "$providers_pid" providers
    lib_stop_pid "$server_pid" accord
    if [[ $rc -ne 0 ]]; then
        for file in "$server_log" "$providers_log"; do
            if [[ -f "$file" ]]; then
                echo "---- last 60 lines of $(basename "$file") ----" >&2
                tail -n 60 "$file" >&2 || true
            fi
        done
    fi
    if [[ -n "${OIDC_TEST_KEEP:-}" ]]; then
        echo "oidc/run.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r port agency_port partner_port < <(lib_free_ports 3)
base_url="http://127.0.0.1:$port"
secret="oidc-test-secret-$RANDOM$RANDOM"
callback="$base_url/_synapse/client/oidc/callback"

node "$here/providers.mjs" "$agency_port" "$partner_port" "$callback" "$secret" >"$providers_log" 2>&1 &
providers_pid=$!
for _ in $(seq 1 100); do
    grep -q '^ready' "$providers_log" 2>/dev/null && break
    kill -0 "$providers_pid" 2>/dev/null || { echo "oidc/run.sh: the providers did not start" >&2; exit 1; }
    sleep 0.1
done
grep -q '^ready' "$providers_log" || { echo "oidc/run.sh: the providers did not start in time" >&2; exit 1; }

cat >"$tmp/accord.toml" <<TOML
server_name = "localhost"

[database]
path = "$tmp/db"

[client_api]
bind = "127.0.0.1:$port"
public_baseurl = "$base_url"

[registration]
mode = "open"

[oauth]
enabled = true

[[oidc.providers]]
id = "agency"
name = "Agency login"
issuer = "http://127.0.0.1:$agency_port"
client_id = "accord"
client_secret = "$secret"
scopes = ["openid", "profile"]

[[oidc.providers]]
id = "partner"
name = "Partner login"
issuer = "http://127.0.0.1:$partner_port"
client_id = "accord"
client_secret = "$secret"

[logging]
filter = "info"
TOML
lib_unlimited_rate_limits >>"$tmp/accord.toml"

if ! lib_start_accord "$bin" "$tmp/accord.toml" "$server_log" "$base_url" accord; then
    server_pid="$lib_pid"
    echo "oidc/run.sh: accord did not come up" >&2
    exit 1
fi
server_pid="$lib_pid"

node "$here/sso.mjs" "$base_url" "$shots"

# A password account for the SDK's OAuth login.
curl -sf -X POST -H 'content-type: application/json' \
    -d '{"username":"erin","password":"erin-password-1","auth":{"type":"m.login.dummy"}}' \
    "$base_url/_matrix/client/v3/register" >/dev/null
"$sdk_test" "$base_url" erin erin-password-1
echo "oidc/run.sh: passed"
