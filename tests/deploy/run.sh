#!/usr/bin/env bash
# Tests the deployment recipes under deploy/ with the real tools, on loopback only:
#   1. the systemd unit passes `systemd-analyze verify`;
#   2. Debian's nginx with deploy/nginx/accord-locations.conf in front of the accord binary:
#      the client API and well-known answer through it, the admin APIs don't;
#   3. the Docker image (deploy/docker/Dockerfile.prebuilt, on a Debian base made here with
#      debootstrap, since no registry is reachable) starts with only a volume and environment
#      variables, answers /versions, runs as a non-root user and turns healthy.
# A private dockerd (its own socket and data in a temp dir, no bridge, no iptables) is started
# when none answers, and stopped at the end; containers use the host's network, so Accord
# listens on 127.0.0.1 like everything else here.
#
#   bash tests/deploy/run.sh [path/to/accord]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lib_prefix=deploy
# shellcheck source=../lib.sh
source "$root/tests/lib.sh"
lib_accord_binary "${1:-}"

tmp="$(mktemp -d)"
accord_pid="" nginx_pid="" dockerd_pid="" container=""
cleanup() {
    local status=$?
    [[ -n "$container" ]] && docker rm -f "$container" >/dev/null 2>&1 || true
    docker volume rm -f accord-deploy-test >/dev/null 2>&1 || true
    lib_stop_pid "$nginx_pid" nginx
    lib_stop_pid "$accord_pid" accord
    lib_stop_pid "$dockerd_pid" dockerd
    rm -rf "$tmp" 2>/dev/null || true
    exit "$status"
}
trap cleanup EXIT

http_status() {
    # http_status URL [HEADER...]: prints the status of a GET.
    "${PYTHON:-python3}" - "$@" <<'PY'
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1])
for header in sys.argv[2:]:
    name, value = header.split(": ", 1)
    req.add_header(name, value)
try:
    with urllib.request.urlopen(req, timeout=10) as resp:
        print(resp.status)
except urllib.error.HTTPError as err:
    print(err.code)
PY
}

expect_status() {
    local want="$1" url="$2" got
    got="$(http_status "$url")"
    if [[ "$got" != "$want" ]]; then
        lib_say "FAIL: GET $url answered $got, expected $want"
        exit 1
    fi
    lib_say "ok: GET $url -> $got"
}

# --- 1. systemd -----------------------------------------------------------------------------
sed "s#/usr/local/bin/accord#$bin#" "$root/deploy/systemd/accord.service" >"$tmp/accord.service"
if ! systemd-analyze verify "$tmp/accord.service" 2>"$tmp/systemd.log"; then
    cat "$tmp/systemd.log" >&2
    lib_say "FAIL: systemd-analyze verify found problems in deploy/systemd/accord.service"
    exit 1
fi
if grep -v "^$" "$tmp/systemd.log" | grep -qv "Cannot add dependency job\|not found.*accord\|kernel.*/proc/"; then
    cat "$tmp/systemd.log" >&2
    lib_say "FAIL: systemd-analyze verify warned about deploy/systemd/accord.service"
    exit 1
fi
lib_say "ok: systemd-analyze verify deploy/systemd/accord.service"

# --- 2. nginx in front of Accord ----------------------------------------------------------------
read -r client_port nginx_port docker_port < <(lib_free_ports 3)
cat >"$tmp/accord.toml" <<TOML
server_name = "localhost"
[database]
path = "$tmp/db"
[client_api]
bind = "127.0.0.1:$client_port"
x_forwarded = true
[registration]
mode = "open"
[well_known]
client = "https://matrix.example.gov"
TOML
lib_start_accord "$bin" "$tmp/accord.toml" "$tmp/accord.log" "http://127.0.0.1:$client_port" accord
accord_pid="$lib_pid"
sed "s#http://127.0.0.1:8008#http://127.0.0.1:$client_port#" "$root/deploy/nginx/accord-locations.conf" \
    >"$tmp/accord-locations.conf"
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<NGINX
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events {}
http {
    access_log $tmp/nginx/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nginx_port;
        include $tmp/accord-locations.conf;
    }
}
NGINX
/usr/sbin/nginx -t -c "$tmp/nginx.conf" -p "$tmp/nginx" 2>"$tmp/nginx/test.log" || {
    cat "$tmp/nginx/test.log" >&2
    exit 1
}
/usr/sbin/nginx -c "$tmp/nginx.conf" -p "$tmp/nginx" -g "daemon off;" &
nginx_pid=$!
lib_wait_versions "http://127.0.0.1:$nginx_port" "$nginx_pid" nginx 20
front="http://127.0.0.1:$nginx_port"
expect_status 200 "$front/_matrix/client/versions"
expect_status 200 "$front/.well-known/matrix/client"
expect_status 404 "$front/_synapse/admin/v1/server_version"
expect_status 404 "$front/_accord/admin/v1/audit"
expect_status 200 "http://127.0.0.1:$client_port/_synapse/admin/v1/server_version"
lib_stop_pid "$nginx_pid" nginx
nginx_pid=""
lib_stop_pid "$accord_pid" accord
accord_pid=""

# --- 3. the Docker image ------------------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    export DOCKER_HOST="unix://$tmp/docker.sock"
    dockerd --host "$DOCKER_HOST" --data-root "$tmp/docker" --exec-root "$tmp/docker-exec" \
        --pidfile "$tmp/docker.pid" --bridge=none --iptables=false >"$tmp/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 1 100); do
        docker info >/dev/null 2>&1 && break
        sleep 0.2
    done
    docker info >/dev/null 2>&1 || { cat "$tmp/dockerd.log" >&2; lib_say "FAIL: dockerd did not start"; exit 1; }
    lib_say "started a private dockerd (pid $dockerd_pid)"
fi
base="accord-test-base:bookworm"
if ! docker image inspect "$base" >/dev/null 2>&1; then
    lib_say "making the Debian base image with debootstrap"
    debootstrap --variant=minbase bookworm "$tmp/rootfs" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 || {
        tail -20 "$tmp/debootstrap.log" >&2
        exit 1
    }
    tar -C "$tmp/rootfs" -c . | docker import - "$base" >/dev/null
fi
mkdir -p "$tmp/ctx"
cp "$bin" "$tmp/ctx/accord"
strip "$tmp/ctx/accord"
cp "$root/conf/accord.toml" "$tmp/ctx/accord.toml"
docker build --network host --build-arg BASE_IMAGE="$base" -t accord-deploy-test:latest \
    -f "$root/deploy/docker/Dockerfile.prebuilt" "$tmp/ctx" >"$tmp/build.log" 2>&1 || {
    tail -30 "$tmp/build.log" >&2
    exit 1
}
lib_say "ok: image built ($(docker image inspect accord-deploy-test:latest --format '{{.Size}}') bytes)"
container="accord-deploy-test-$$"
docker run -d --name "$container" --network host -v accord-deploy-test:/var/lib/accord \
    -e ACCORD_SERVER_NAME=localhost \
    -e ACCORD_CLIENT_API__BIND="127.0.0.1:$docker_port" \
    accord-deploy-test:latest >/dev/null
deadline=$((SECONDS + 60))
until [[ "$(http_status "http://127.0.0.1:$docker_port/_matrix/client/versions" 2>/dev/null)" == 200 ]]; do
    if ((SECONDS >= deadline)); then
        docker logs "$container" >&2 || true
        lib_say "FAIL: the container did not answer /versions within 60 s"
        exit 1
    fi
    sleep 0.5
done
lib_say "ok: the container answers /_matrix/client/versions"
uid="$(docker exec "$container" id -u)"
[[ "$uid" != 0 ]] || { lib_say "FAIL: the container runs as root"; exit 1; }
lib_say "ok: runs as uid $uid"
docker exec "$container" test -d /var/lib/accord/db || { lib_say "FAIL: no database in the volume"; exit 1; }
deadline=$((SECONDS + 60))
until [[ "$(docker inspect --format '{{.State.Health.Status}}' "$container")" == healthy ]]; do
    if ((SECONDS >= deadline)); then
        docker inspect --format '{{json .State.Health}}' "$container" >&2
        lib_say "FAIL: the container did not turn healthy within 60 s"
        exit 1
    fi
    sleep 1
done
lib_say "ok: the container's health check passes"
docker rm -f "$container" >/dev/null
container=""
docker rmi accord-deploy-test:latest >/dev/null
lib_say "all deployment tests passed"
