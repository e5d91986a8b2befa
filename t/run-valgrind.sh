#!/bin/bash
# valgrind memcheck on a small run (issue 6): nginx in one process
# (master_process off; daemon off) with the normal module under
#   valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
# a chat scenario driven by socket.io-client (t/lib/valgrind.mjs: polling,
# WebSocket, upgrade, posts, a private message, bad inputs, disconnects, one
# client still connected at the end), then SIGQUIT. Fails on any memcheck
# error, and on any "definitely lost" record with a frame of the module
# (ngx_http_socketio*, socketio::); definite leaks elsewhere (nginx's own
# exit path, libraries) are printed but not counted.
#
#   t/run-valgrind.sh             # builds build/ if needed
#   SOCKETIO_MODULE=/path.so t/run-valgrind.sh
#
# The log stays in t/tmp/valgrind-*/valgrind.log.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "run-valgrind: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

if [ -z "${SOCKETIO_MODULE:-}" ]; then
    [ -f build/CMakeCache.txt ] || cmake -S . -B build >/dev/null
    cmake --build build -j"$(nproc)" --target ngx_http_socketio_module >/dev/null
    module=$root/build/ngx_http_socketio_module.so
else
    module=$(realpath "$SOCKETIO_MODULE")
fi
nginx_bin=${NGINX_BIN:-/usr/sbin/nginx}

mkdir -p t/tmp
dir=$(mktemp -d "$root/t/tmp/valgrind-XXXX")
chmod 755 "$dir"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
user=""
[ "$(id -u)" = 0 ] && user="user root;"
cat >"$dir/nginx.conf" <<CONF
load_module $module;
daemon off;
master_process off;
$user
worker_processes 1;
error_log $dir/error.log info;
pid $dir/nginx.pid;
events { worker_connections 1024; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;
    server {
        listen 127.0.0.1:$port;
        location /socket.io/ {
            socketio;
            socketio_handler chat;
            socketio_chat_relay tweet;
            socketio_ping_interval 2s;
            socketio_ping_timeout 20s;
        }
    }
}
CONF

echo "== nginx under valgrind memcheck (log: $dir/valgrind.log)"
valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \
    --error-exitcode=99 --num-callers=40 --track-origins=yes \
    --log-file="$dir/valgrind.log" \
    "$nginx_bin" -p "$dir" -e "$dir/error.log" -c nginx.conf >"$dir/nginx.out" 2>&1 &
vg=$!

for _ in $(seq 1 600); do
    if ! kill -0 "$vg" 2>/dev/null; then
        echo "nginx under valgrind exited early:"; cat "$dir/nginx.out" "$dir/error.log" 2>/dev/null; tail -30 "$dir/valgrind.log"
        exit 1
    fi
    (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break
    sleep 0.1
done

echo "== scenario (socket.io-client) on 127.0.0.1:$port"
(cd t && exec node lib/valgrind.mjs scenario "http://127.0.0.1:$port") >"$dir/scenario.out" 2>&1 &
scen=$!
status=0
for _ in $(seq 1 1200); do
    grep -q '^scenario: READY' "$dir/scenario.out" && break
    if ! kill -0 "$scen" 2>/dev/null; then status=1; break; fi
    sleep 0.1
done
cat "$dir/scenario.out"
if [ $status -ne 0 ] || ! grep -q '^scenario: READY' "$dir/scenario.out"; then
    echo "run-valgrind: the scenario failed"
    status=1
fi

echo "== SIGQUIT"
t0=$(date +%s%N)
kill -QUIT "$vg"
rc=0
wait "$vg" || rc=$?
echo "nginx exited with $rc, $(( ($(date +%s%N) - t0) / 1000000 )) ms after SIGQUIT"
kill "$scen" 2>/dev/null || true
wait "$scen" 2>/dev/null || true

if grep -E '\[(alert|crit|emerg)\]' "$dir/error.log"; then
    echo "run-valgrind: nginx logged a problem"
    status=1
fi
if ! node t/lib/valgrind.mjs check "$dir/valgrind.log"; then
    status=1
fi
if [ $status -ne 0 ]; then
    echo "run-valgrind: FAILED (logs in $dir)"
    exit 1
fi
echo "run-valgrind: no memcheck error, no definite leak in the module (log: $dir/valgrind.log)"
