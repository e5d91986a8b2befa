#!/bin/bash
# Starts (or stops) the example of conf/cluster.conf: a private
# redis-server on 127.0.0.1:6390 and two nginx with the module on it, A on
# 127.0.0.1:8081 and B on 127.0.0.1:8082, each with 2 workers. State and
# logs go to build/cluster/. Needs what conf/setup.sh installs and builds.
#
#     conf/cluster.sh start | stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=build/cluster

nginx_of() { echo /usr/sbin/nginx -p "$root/" -c "$root/$state/$1.conf"; }

stop() {
    for node in a b; do
        if [ -f "$state/$node/nginx.pid" ]; then
            $(nginx_of "$node") -s quit 2>/dev/null || true
        fi
    done
    if [ -f "$state/redis.pid" ]; then
        kill "$(cat "$state/redis.pid")" 2>/dev/null || true
        rm -f "$state/redis.pid"
    fi
}

case "${1:-}" in
start)
    [ -f build/ngx_http_socketio_module.so ] || { echo "cluster: run conf/setup.sh first" >&2; exit 1; }
    stop
    for node in a b; do
        mkdir -p "$state/$node"
        # node B: conf/cluster.conf with its own port and state directory
        sed -e "s|build/cluster/a/|build/cluster/$node/|" \
            -e "s|127.0.0.1:8081|127.0.0.1:$([ $node = a ] && echo 8081 || echo 8082)|" \
            conf/cluster.conf > "$state/$node.conf"
    done
    redis-server --bind 127.0.0.1 --port 6390 --save '' --appendonly no \
        --daemonize yes --pidfile "$root/$state/redis.pid" \
        --logfile "$root/$state/redis.log"
    for node in a b; do
        $(nginx_of "$node")
    done
    echo "cluster: Redis on 127.0.0.1:6390; the chat on http://127.0.0.1:8081/ (A) and http://127.0.0.1:8082/ (B); logs in $state/"
    ;;
stop)
    stop
    ;;
*)
    echo "usage: conf/cluster.sh start | stop" >&2
    exit 2
    ;;
esac
