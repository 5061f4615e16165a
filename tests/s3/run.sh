#!/usr/bin/env bash
# Media in an S3-compatible bucket: starts moto's S3 server (PyPI, pinned in requirements.txt) on
# 127.0.0.1, creates a bucket, then
#   1. runs the S3Store conformance tests (crates/media-s3/tests/s3_store.rs, ignored in a plain
#      cargo test) against it;
#   2. starts the accord binary with `media.backend = "s3"` and runs the matrix-nio media test
#      (tests/clients/nio_media_test.py: avatar, image message, downloads, thumbnails) against it;
#   3. checks the bucket: every file under <prefix>/blobs/, nothing left under <prefix>/tmp/, and
#      nothing in the local media directory.
#
#   bash tests/s3/run.sh [path/to/accord]
#
# Venvs: ${S3_TEST_VENV:-$HOME/.cache/accord/venv-s3} (moto) and the client tests' venv
# (${CLIENT_TEST_VENV:-$HOME/.cache/accord/venv-clients}), each reused while its requirements are
# unchanged. Every process started here is stopped by its PID on exit; the temp dir is removed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../lib.sh
source "$here/../lib.sh"
lib_prefix="s3/run.sh"
lib_accord_binary "${1:-}"

s3_venv="${S3_TEST_VENV:-$HOME/.cache/accord/venv-s3}"
client_venv="${CLIENT_TEST_VENV:-$HOME/.cache/accord/venv-clients}"
lib_ensure_venv "$s3_venv" "$here/requirements.txt"
lib_ensure_venv "$client_venv" "$root/tests/clients/requirements.txt"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/accord-s3.XXXXXX")"
moto_pid=""
accord_pid=""
cleanup() {
    local rc=$?
    lib_stop_pid "$accord_pid" accord
    lib_stop_pid "$moto_pid" moto
    if [[ $rc -ne 0 ]]; then
        for log in "$tmp/moto.log" "$tmp/accord.log"; do
            [[ -f "$log" ]] || continue
            echo "---- last 60 lines of $(basename "$log") ----" >&2
            tail -n 60 "$log" >&2 || true
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

read -r moto_port client_port <<<"$(lib_free_ports 2)"
endpoint="http://127.0.0.1:$moto_port"
bucket="accord-media"

# --- moto ---------------------------------------------------------------------------------------
"$s3_venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$tmp/moto.log" 2>&1 &
moto_pid=$!
s3() {
    AWS_ACCESS_KEY_ID=accord-test AWS_SECRET_ACCESS_KEY=accord-test-secret \
        "$s3_venv/bin/python" - "$endpoint" "$bucket" "$@"
}
for _ in $(seq 1 100); do
    if s3 <<'EOF' 2>/dev/null; then break; fi
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").list_buckets()
EOF
    kill -0 "$moto_pid" 2>/dev/null || { echo "s3/run.sh: moto exited" >&2; exit 1; }
    sleep 0.2
done
s3 <<'EOF'
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").create_bucket(Bucket=sys.argv[2])
EOF
lib_say "moto S3 on $endpoint, bucket $bucket"

# --- 1. the store against the bucket --------------------------------------------------------------
# --workspace keeps the features the workspace build already compiled (no rebuild).
(cd "$root" && ACCORD_TEST_S3_ENDPOINT="$endpoint" ACCORD_TEST_S3_BUCKET="$bucket" \
    cargo test --workspace --test s3_store -- --ignored)

# --- 2. the server on S3, with a real client ----------------------------------------------------
prefix="server-$RANDOM"
config="$tmp/accord.toml"
cat >"$config" <<EOF
server_name = "localhost"

[database]
path = "$tmp/db"

[client_api]
bind = "127.0.0.1:$client_port"

[registration]
mode = "open"

[media]
path = "$tmp/media"
backend = "s3"

[media.s3]
endpoint = "$endpoint"
bucket = "$bucket"
region = "us-east-1"
access_key_id = "accord-test"
secret_access_key_file = "$tmp/s3-secret"
prefix = "$prefix"

[logging]
filter = "info"
EOF
lib_unlimited_rate_limits >>"$config"
printf 'accord-test-secret\n' >"$tmp/s3-secret"
base_url="http://127.0.0.1:$client_port"
if ! lib_start_accord "$bin" "$config" "$tmp/accord.log" "$base_url" accord; then
    accord_pid="$lib_pid"
    exit 1
fi
accord_pid="$lib_pid"
"$client_venv/bin/python" "$root/tests/clients/nio_media_test.py" --homeserver "$base_url" --server-name localhost

# --- 3. what is in the bucket ----------------------------------------------------------------------
s3 "$prefix" <<'EOF'
import sys, boto3
endpoint, bucket, prefix = sys.argv[1:4]
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])]
blobs = [k for k in keys if k.startswith(prefix + "/blobs/")]
others = [k for k in keys if not k.startswith(prefix + "/blobs/")]
# The avatar, the image and at least one thumbnail.
assert len(blobs) >= 3, f"expected at least 3 blobs, found {keys}"
assert not others, f"objects outside blobs/ (unfinished writes?): {others}"
print(f"ok - bucket holds {len(blobs)} blobs under {prefix}/blobs/, nothing else")
EOF
if [[ -d "$tmp/media" ]] && [[ -n "$(find "$tmp/media" -type f)" ]]; then
    echo "s3/run.sh: files were written to the local media directory:" >&2
    find "$tmp/media" -type f >&2
    exit 1
fi
lib_say "all S3 media tests passed"
