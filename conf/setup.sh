#!/bin/bash
# The README's first command. On Debian bookworm, as root: installs what is
# missing (Debian packages with apt-get, the npm packages of t/ from its
# lock file), builds the module against Debian's nginx, and starts the
# stock /usr/sbin/nginx with conf/nginx.conf serving the chat on
# http://127.0.0.1:8080. Run it again to rebuild and restart.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

packages=(
    build-essential cmake pkg-config git curl ca-certificates
    procps iproute2
    nginx nginx-dev libpcre2-dev libssl-dev zlib1g-dev
    debhelper dpkg-dev
    libboost-json1.81-dev libwebsockets-dev
    googletest libgtest-dev libbenchmark-dev
    clang libclang-rt-14-dev valgrind
    chromium
    redis-server
)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian's nginx package starts a server on port 80; the demo does not
    # need it, and the tests start their own
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
        systemctl disable --now nginx >/dev/null 2>&1 \
            || service nginx stop >/dev/null 2>&1 || true
    fi
    # the same for Debian's redis-server (port 6379): the cluster tests
    # (t/lib/redis.js) start their own on free ports
    if [[ " ${missing[*]} " == *" redis-server "* ]]; then
        systemctl disable --now redis-server >/dev/null 2>&1 \
            || service redis-server stop >/dev/null 2>&1 || true
    fi
fi

echo "setup: installing the npm packages of t/ (npm ci)"
(cd t && npm ci --no-audit --no-fund --loglevel=error)

echo "setup: building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

# the demo server: prefix is the repository, state goes to build/demo
mkdir -p build/demo
nginx=(/usr/sbin/nginx -p "$root/" -c conf/nginx.conf)
if [ -f build/demo/nginx.pid ] && kill -0 "$(cat build/demo/nginx.pid)" 2>/dev/null; then
    "${nginx[@]}" -s quit || true
    for _ in $(seq 50); do
        [ -f build/demo/nginx.pid ] || break
        sleep 0.1
    done
fi

# another checkout's demo (an nginx master run with conf/nginx.conf) gives
# the port up; anything else holding it is named, not killed
holder=$(ss -ltnpH 'sport = :8080' 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
if [ -n "$holder" ]; then
    master=$(ps -o ppid= -p "$holder" | tr -d ' ')
    [ "$(ps -o comm= -p "$master" 2>/dev/null)" = nginx ] || master=$holder
    if ps -o args= -p "$master" | grep -q -- '-c conf/nginx.conf'; then
        echo "setup: stopping the demo of another checkout ($(ps -o args= -p "$master"))"
        kill -QUIT "$master"
        for _ in $(seq 50); do
            kill -0 "$master" 2>/dev/null || break
            sleep 0.1
        done
    else
        echo "setup: port 8080 is held by: $(ps -o args= -p "$holder")" >&2
        exit 1
    fi
fi

"${nginx[@]}" -t -q
"${nginx[@]}"

for _ in $(seq 50); do
    curl -fsS -o /dev/null http://127.0.0.1:8080/ 2>/dev/null && break
    sleep 0.1
done
curl -fsS -o /dev/null http://127.0.0.1:8080/

echo "setup: the chat is served on http://127.0.0.1:8080/ (logs in build/demo/)"
