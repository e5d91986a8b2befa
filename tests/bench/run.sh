#!/usr/bin/env bash
# The benchmark of issue 5 in one command (tests/bench/README.md): builds the
# module, the load generator and the micro-benchmarks, then runs the same
# loads against the module's nginx (one worker, then two) and against the
# reference Node.js chat (tests/bench/reference-chat.js, one process), each
# load on a fresh server, and prints one table with the ratios.
#
#   tests/bench/run.sh            the full run (about 12 minutes)
#   tests/bench/run.sh --quick    a smoke run: a few hundred clients, seconds each
#
# Options:
#   --quick              small loads, short runs
#   --only LOAD,...      only these loads (lat16 ws1k ws5k max1k mixed1k idle10k
#                        handshake flood1k xnode1k)
#   --servers S,...      only these servers (module-1w node module-2w)
#   --out DIR            where results go (default build/bench/DATE-TIME)
#   --no-micro           skip the Google Benchmark micro-benchmarks
#   --no-build           use what BUILD_DIR holds
#   --wait-idle S        before each run, wait up to S s for the machine to be idle
#   --busy-retries N     run a load again (up to N times, default 1) when other
#                        processes took more than 0.25 cores during it
#   --recovery           the module with socketio_recovery on (its cost: run
#                        once with, once without, e.g. --servers module-1w)
#   --nice N             run the servers and the load generator at this nice
#                        value (e.g. -10, as root: on a machine shared with other
#                        work, the benchmark gets the CPU first)
#
# Environment: BUILD_DIR (build), NGINX_BIN (/usr/sbin/nginx), NODE_BIN (node),
# REDIS_BIN (/usr/bin/redis-server) and REDIS_CLI (/usr/bin/redis-cli), for xnode1k.
#
# Everything listens on 127.0.0.1, on free ports; the script stops what it
# started (trap). Run it as root on a machine that is otherwise idle: the
# table notes how much CPU other processes took during each run.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$REPO/build}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
NODE_BIN=${NODE_BIN:-node}
REDIS_BIN=${REDIS_BIN:-/usr/bin/redis-server}
REDIS_CLI=${REDIS_CLI:-/usr/bin/redis-cli}

ARGS=("$@")
QUICK=0
ONLY=""
SERVERS="module-1w,node,module-2w"
OUT=""
MICRO=1
BUILD=1
BUSY_LIMIT=0.25     # cores other processes may take during a run
BUSY_RETRIES=1      # runs again when they took more
IDLE_WAIT=0         # seconds to wait for an idle machine before each run
NICE=0              # nice value of the servers and the load generator
RECOVERY=0          # --recovery: socketio_recovery on

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only) ONLY="$2"; shift ;;
        --servers) SERVERS="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --no-micro) MICRO=0 ;;
        --no-build) BUILD=0 ;;
        --busy-retries) BUSY_RETRIES="$2"; shift ;;
        --wait-idle) IDLE_WAIT="$2"; shift ;;
        --nice) NICE="$2"; shift ;;
        --recovery) RECOVERY=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '== %s\n' "$*" >&2; }

# With --nice, the benchmark runs in a session of its own: the scheduler
# shares the CPU between sessions (autogroups) first and by nice value only
# within one, so the session's own nice is what gives it the CPU first.
if [ "$NICE" != 0 ] && [ -z "${SOCKETIO_BENCH_SESSION:-}" ] \
    && [ -e /proc/self/autogroup ] && command -v setsid >/dev/null; then
    export SOCKETIO_BENCH_SESSION=1
    setsid "$HERE/run.sh" "${ARGS[@]}" &
    child=$!
    trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
    rc=0
    wait "$child" || rc=$?
    # a signal interrupts wait: wait again for the cleanup
    while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
    exit "$rc"
fi
if [ "$NICE" != 0 ] && [ -n "${SOCKETIO_BENCH_SESSION:-}" ]; then
    echo "$NICE" > /proc/self/autogroup 2>/dev/null \
        || say "could not set the session's nice (/proc/self/autogroup)"
fi

# ---------------------------------------------------------------- limits

# thousands of sockets on both sides of loopback
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$NOFILE" -lt 12000 ]; then
    say "warning: only $NOFILE descriptors (ulimit -n): the 10,000-connection load will fail"
fi

# ---------------------------------------------------------------- build

if [ "$BUILD" = 1 ]; then
    say "building in $BUILD_DIR"
    cmake -S "$REPO" -B "$BUILD_DIR" >/dev/null
    targets=(--target ngx_http_socketio_module --target socketio_loadgen)
    # the micro-benchmarks exist when Google Benchmark (libbenchmark-dev) does
    if [ "$MICRO" = 1 ]; then
        if cmake --build "$BUILD_DIR" --target help 2>/dev/null | grep socketio_micro_bench >/dev/null; then
            targets+=(--target socketio_micro_bench)
        else
            say "no Google Benchmark (libbenchmark-dev): no micro-benchmarks"
            MICRO=0
        fi
    fi
    cmake --build "$BUILD_DIR" -j"$(nproc)" "${targets[@]}" >&2
fi
LOADGEN="$BUILD_DIR/tests/bench/socketio_loadgen"
MICRO_BIN="$BUILD_DIR/tests/bench/socketio_micro_bench"
[ -x "$LOADGEN" ] || { echo "run.sh: $LOADGEN not built" >&2; exit 1; }
[ -f "$BUILD_DIR/ngx_http_socketio_module.so" ] || { echo "run.sh: module not built" >&2; exit 1; }

# ---------------------------------------------------------------- work area

[ -n "$OUT" ] || OUT="$BUILD_DIR/bench/$(date +%Y%m%d-%H%M%S)$(if [ "$QUICK" = 1 ]; then echo -quick; fi)"
mkdir -p "$OUT/logs"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/socketio-bench.XXXXXX")
chmod 755 "$WORK"
# the module nginx loads is a copy: a rebuild meanwhile does not change it
cp "$BUILD_DIR/ngx_http_socketio_module.so" "$WORK/module.so"

SERVER_PID=""
SERVER_KIND=""
SERVER_DIR=""
LOADGEN_PID=""
# xnode1k: the cluster's other server (node A, where the posts are made) and
# its private Redis
PEER_PID=""
PEER_DIR=""
PEER_PORT=""
REDIS_PID=""
REDIS_PORT=""
REDIS_DIR=""

stop_pid() {   # pid what
    [ -n "$1" ] || return 0
    if kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$1" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$1" 2>/dev/null; then
            say "$2 $1 did not stop: SIGKILL"
            # its workers first (by pid), then the master
            for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
                kill -KILL "$child" 2>/dev/null || true
            done
            kill -KILL "$1" 2>/dev/null || true
        fi
    fi
    wait "$1" 2>/dev/null || true
}

stop_server() {
    stop_pid "$SERVER_PID" server
    SERVER_PID=""
}

stop_peer() {
    stop_pid "$PEER_PID" "server A"
    PEER_PID=""
}

stop_redis() {
    stop_pid "$REDIS_PID" redis-server
    REDIS_PID=""
}

cleanup() {
    local rc=$?
    if [ -n "$LOADGEN_PID" ]; then
        kill -TERM "$LOADGEN_PID" 2>/dev/null || true
        wait "$LOADGEN_PID" 2>/dev/null || true
    fi
    stop_server
    stop_peer
    stop_redis
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$NODE_BIN" -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

wait_port() {   # port pid
    for _ in $(seq 1 200); do
        kill -0 "$2" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

RUN=0

start_module() {   # workers [redis port]
    RUN=$((RUN + 1))
    SERVER_DIR="$WORK/run-$RUN"
    mkdir -p "$SERVER_DIR"
    PORT=$(free_port)
    local user=""
    [ "$(id -u)" = 0 ] && user="user root;"
    local conns=$((NOFILE - 256))
    # with several workers the kernel spreads the connections over them
    # (without it one idle worker tends to accept nearly all)
    local reuseport=""
    [ "$1" -gt 1 ] && reuseport=" reuseport"

    [ "$conns" -gt 65536 ] && conns=65536
    cat > "$SERVER_DIR/nginx.conf" <<EOF
load_module $WORK/module.so;
daemon off;
master_process on;
$user
worker_processes $1;
worker_rlimit_nofile $NOFILE;
error_log $SERVER_DIR/error.log info;
pid $SERVER_DIR/nginx.pid;

events {
    worker_connections $conns;
}

http {
    access_log off;
    client_body_temp_path $SERVER_DIR/client_body_temp;
    proxy_temp_path $SERVER_DIR/proxy_temp;
    fastcgi_temp_path $SERVER_DIR/fastcgi_temp;
    uwsgi_temp_path $SERVER_DIR/uwsgi_temp;
    scgi_temp_path $SERVER_DIR/scgi_temp;

    server {
        listen 127.0.0.1:$PORT backlog=4096$reuseport;
        location /socket.io/ {
            socketio;
            socketio_handler chat;
            socketio_zone bench 64m;$(if [ -n "${2:-}" ]; then printf '\n            socketio_redis 127.0.0.1:%s;' "$2"; fi)$(if [ "$RECOVERY" = 1 ]; then printf '\n            socketio_recovery on;'; fi)
        }
    }
}
EOF
    nice -n "$NICE" "$NGINX_BIN" -p "$SERVER_DIR/" -c "$SERVER_DIR/nginx.conf" -e "$SERVER_DIR/error.log" \
        > "$SERVER_DIR/stdout.log" 2>&1 &
    SERVER_PID=$!
    SERVER_KIND="module-$1w"
    if [ "$RECOVERY" = 1 ]; then SERVER_KIND+="+recovery"; fi
    if ! wait_port "$PORT" "$SERVER_PID"; then
        cat "$SERVER_DIR/error.log" "$SERVER_DIR/stdout.log" >&2 || true
        echo "run.sh: nginx did not start" >&2
        exit 1
    fi
    # the workers: started once the master listens, give them a moment
    sleep 0.3
}

start_node() {   # [redis port]
    RUN=$((RUN + 1))
    SERVER_DIR="$WORK/run-$RUN"
    mkdir -p "$SERVER_DIR"
    PORT=$(free_port)
    local redis=()
    [ -z "${1:-}" ] || redis=(--redis "127.0.0.1:$1")
    nice -n "$NICE" "$NODE_BIN" "$HERE/reference-chat.js" --port "$PORT" "${redis[@]}" \
        > "$SERVER_DIR/stdout.log" 2> "$SERVER_DIR/error.log" &
    SERVER_PID=$!
    SERVER_KIND="node"
    if ! wait_port "$PORT" "$SERVER_PID"; then
        cat "$SERVER_DIR/error.log" >&2 || true
        echo "run.sh: node did not start" >&2
        exit 1
    fi
    sleep 0.3
}

start_server() {   # server [redis port]
    case "$1" in
        module-1w) start_module 1 "${2:-}" ;;
        module-2w) start_module 2 "${2:-}" ;;
        node) start_node "${2:-}" ;;
        *) echo "run.sh: unknown server $1" >&2; exit 2 ;;
    esac
}

# A private redis-server for xnode1k: on a free loopback port, nothing
# saved, in the run's directory.
start_redis() {
    REDIS_DIR="$WORK/redis-$RUN"
    mkdir -p "$REDIS_DIR"
    REDIS_PORT=$(free_port)
    nice -n "$NICE" "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$REDIS_DIR" --logfile "$REDIS_DIR/redis.log" --daemonize no \
        > "$REDIS_DIR/stdout.log" 2>&1 &
    REDIS_PID=$!
    if ! wait_port "$REDIS_PORT" "$REDIS_PID"; then
        cat "$REDIS_DIR/redis.log" "$REDIS_DIR/stdout.log" >&2 || true
        echo "run.sh: redis-server did not start" >&2
        exit 1
    fi
}

redis_cmd() {   # args...: the reply, one line per value
    timeout 5 "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" "$@" 2>/dev/null
}

# Waits until both members are in the cluster: two subscribers to the
# adapter's request channel (PUBSUB NUMSUB, as t/lib/cluster.js waits) and
# two connections reading the broadcasts (PSUBSCRIBE socket.io#/#*: CLIENT
# LIST's psub=1).
wait_members() {   # count
    local numsub psub
    for _ in $(seq 1 300); do
        numsub=$(redis_cmd PUBSUB NUMSUB 'socket.io-request#/#' | tail -n 1 || true)
        psub=$(redis_cmd CLIENT LIST | grep -c ' psub=1 ' || true)
        if [ "$numsub" = "$1" ] && [ "$psub" = "$1" ]; then
            return 0
        fi
        sleep 0.1
    done
    say "the cluster has $numsub members subscribed and $psub reading broadcasts, not $1"
    return 1
}

# What the server's log says, once it is stopped: counts by level, and the
# distinct messages of warn and above (times, pids, connection numbers and
# session ids masked), kept in $OUT/logs/. xnode1k: the logs of both of the
# cluster's servers (B, the measured one, then A), counted together, each
# line of the summary marked with its server.
log_summary() {   # name [dir tag]... (default: $SERVER_DIR) -> prints JSON fields
    local name=$1
    shift
    [ $# -gt 0 ] || set -- "$SERVER_DIR" ""
    local alerts=0 errors=0 warns=0 crashed=0 keep=0 log tag a e w c
    local summary="$WORK/summary.$$"
    : > "$summary"
    while [ $# -ge 2 ]; do
        log="$1/error.log"
        tag=$2
        shift 2
        [ -s "$log" ] || continue
        a=$(grep -cE '\[(emerg|alert|crit)\]' "$log" || true)
        e=$(grep -cE '\[error\]' "$log" || true)
        w=$(grep -cE '\[warn\]' "$log" || true)
        c=$(grep -cE 'exited on signal' "$log" || true)
        alerts=$((alerts + a)); errors=$((errors + e)); warns=$((warns + w)); crashed=$((crashed + c))
        if [ $((a + e + w + c)) -gt 0 ] || [ "$SERVER_KIND" = node ]; then
            keep=1
            sed -E 's/^[0-9\/]+ [0-9:]+ //; s/[0-9]+#[0-9]+: \*?[0-9]* ?//; s/sid=[A-Za-z0-9_-]+/sid=SID/g; s/client: [0-9.]+/client: IP/' "$log" \
                | grep -vE '^\[(info|notice|debug)\]' | sed "s/^/${tag:+$tag: }/" >> "$summary" || true
            cp "$log" "$OUT/logs/$name${tag:+.$tag}.error.log" 2>/dev/null || true
        fi
    done
    if [ "$keep" = 1 ]; then
        sort "$summary" | uniq -c | sort -rn | head -50 > "$OUT/logs/$name.summary" || true
    fi
    rm -f "$summary"
    printf '"log_alerts":%s,"log_errors":%s,"log_warns":%s,"log_crashes":%s' \
        "$alerts" "$errors" "$warns" "$crashed"
}

# Cores the machine spends busy, over 2 s (/proc/stat): a benchmark on a
# machine that does other work measures the other work too.
busy_cores() {
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    sleep 2
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    awk -v a="$a" -v b="$b" -v n="$(nproc)" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        printf "%.2f", (y[1] - x[1]) / (y[2] - x[2]) * n }'
}

# Waits (up to IDLE_WAIT s) for the other processes to leave the CPU alone.
wait_idle() {
    local waited=0 busy
    [ "$IDLE_WAIT" -gt 0 ] || return 0
    while [ "$waited" -lt "$IDLE_WAIT" ]; do
        busy=$(busy_cores)
        awk -v b="$busy" -v t="$BUSY_LIMIT" 'BEGIN { exit !(b <= t) }' && return 0
        [ "$waited" = 0 ] && say "the machine is busy ($busy cores): waiting up to $IDLE_WAIT s"
        waited=$((waited + 2))
    done
    say "still busy: running anyway"
}

# ---------------------------------------------------------------- loads

# name, then the load generator's arguments (full run | quick run)
if [ "$QUICK" = 1 ]; then
    LOAD_lat16="--clients 16 --rate 20 --duration 3"
    LOAD_ws1k="--clients 200 --rate 100 --duration 3"
    LOAD_ws5k="--clients 500 --rate 100 --duration 3"
    LOAD_max1k="--clients 200 --rate 0 --window 32 --duration 3"
    LOAD_mixed1k="--clients 300 --polling 100 --rate 100 --duration 3"
    LOAD_idle10k="--mode idle --clients 1000 --settle 1"
    LOAD_handshake="--mode handshake --conns 32 --duration 2"
    LOAD_flood1k="--clients 200 --senders 5 --rate 100 --duration 6 --flood users --flood-start 3"
    LOAD_xnode1k="--clients 210 --senders 10 --rate 100 --duration 3"
    SETTLE="--settle 1 --drain 5"
else
    # a light load: what a post's path costs, and what crossing workers adds
    LOAD_lat16="--clients 16 --rate 20 --duration 10"
    LOAD_ws1k="--clients 1000 --rate 100 --duration 20"
    LOAD_ws5k="--clients 5000 --rate 100 --duration 15 --connect-concurrency 500"
    LOAD_max1k="--clients 1000 --rate 0 --window 32 --duration 15"
    LOAD_mixed1k="--clients 1000 --polling 333 --rate 100 --duration 15"
    LOAD_idle10k="--mode idle --clients 10000 --settle 3 --connect-concurrency 500"
    # sessions that never connect keep their entry in the zone for the
    # connect timeout (45 s): at 40,000+ handshakes/s the 64m zone's table
    # (224,000 sessions) is full after 5 s and new sessions are refused
    LOAD_handshake="--mode handshake --conns 32 --duration 3"
    # issue 9: a few named users post at a set rate (the bystanders whose
    # latency is measured, every other client receives) for 10 s, then one
    # more client floods `users` (1,001 names to list each time) for 10 s.
    # 20 posts/s (20,000 deliveries/s), not ws1k's 100: at ws1k Node.js is
    # saturated before any flood (its quiet p50 is seconds) and the module's
    # worker ~90 % busy on cores it shares with the load generator, so the
    # flood could only show what is left of the CPU, not who waits for whom
    LOAD_flood1k="--clients 1000 --senders 10 --rate 20 --duration 20 --flood users --flood-start 10"
    # issue 10: a cluster of two servers on one Redis; 10 clients post on A,
    # 1,000 receive on B (then, for the comparison, all 1,010 on B). 20 posts/s
    # (20,000 deliveries/s), as flood1k: at ws1k's 100 one Node.js server is
    # saturated by the deliveries alone (its p50 is seconds) and the module's
    # worker ~90 % busy on cores it shares with the load generator, A and
    # Redis, so a latency the hop adds would drown in the queueing
    LOAD_xnode1k="--clients 1010 --senders 10 --rate 20 --duration 20"
    SETTLE="--settle 2 --drain 10"
fi
ALL_LOADS="lat16 ws1k ws5k max1k mixed1k idle10k handshake flood1k xnode1k"
LOADS=${ONLY//,/ }
[ -n "$LOADS" ] || LOADS=$ALL_LOADS

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "nginx: $("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///')"
    echo "node: $("$NODE_BIN" --version)"
    echo "socket.io: $("$NODE_BIN" -p "require('$REPO/t/node_modules/socket.io/package.json').version")"
    echo "libwebsockets: $(pkg-config --modversion libwebsockets 2>/dev/null || echo '?')"
    echo "module: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet -- src 2>/dev/null || echo ' (src modified)')"
    echo "run: $([ "$QUICK" = 1 ] && echo quick || echo full)"
    echo "busy before the run: $(busy_cores) cores (other processes, over 2 s)"
    [ "$NICE" = 0 ] || echo "nice: servers and load generator at $NICE"
} > "$OUT/env.txt"
cat "$OUT/env.txt" >&2

# One run of a load on a server: a fresh server (xnode1k: a fresh Redis and
# two servers of the kind on it), the load generator, everything stopped;
# sets `line` (the JSON line with the server and its log's counts).
#   variant "":      the load against one server
#   variant local:   xnode1k's local broadcast: the two servers A and B on one
#                    Redis, every client on B (senders included)
#   variant xnode:   the senders on A, the receivers on B: every delivery
#                    crosses from A to B through Redis
run_once() {   # load label server variant args
    local load=$1 label=$2 server=$3 variant=$4 args=$5
    local url peer=() where logs=()
    if [ -z "$variant" ]; then
        start_server "$server"
        where="pid $SERVER_PID, port $PORT"
    else
        start_redis
        # A first: the posting server of the xnode variant, idle in the local one
        start_server "$server" "$REDIS_PORT"
        PEER_PID=$SERVER_PID PEER_DIR=$SERVER_DIR PEER_PORT=$PORT SERVER_PID=""
        start_server "$server" "$REDIS_PORT"
        if ! wait_members 2; then
            stop_server; stop_peer; stop_redis
            line="{\"label\":\"$label\",\"ok\":false,\"error\":\"the two servers did not both join the cluster\"}"
            line="${line%\}},\"server\":\"$server\",\"variant\":\"$variant\",\"args\":\"$args\",\"tries\":$((tries + 1)),$(log_summary "$label.$server" "$SERVER_DIR" B "$PEER_DIR" A)}"
            return
        fi
        peer=(--peer-pid "$PEER_PID" --redis-pid "$REDIS_PID")
        [ "$variant" = local ] || peer+=(--post-url "http://127.0.0.1:$PEER_PORT/socket.io/")
        where="B pid $SERVER_PID port $PORT, A pid $PEER_PID port $PEER_PORT, redis port $REDIS_PORT"
        logs=("$SERVER_DIR" B "$PEER_DIR" A)
    fi
    say "$label on $server ($where): $args"
    url="http://127.0.0.1:$PORT/socket.io/"
    # shellcheck disable=SC2086
    nice -n "$NICE" "$LOADGEN" --url "$url" --server-pid "$SERVER_PID" "${peer[@]}" \
        --label "$label" $SETTLE $args > "$WORK/line.json" 2> "$OUT/logs/$label.$server.loadgen.log" &
    LOADGEN_PID=$!
    wait "$LOADGEN_PID" || true
    LOADGEN_PID=""
    stop_server
    stop_peer
    stop_redis
    line=$(tail -n 1 "$WORK/line.json")
    if [ -z "$line" ]; then
        line="{\"label\":\"$label\",\"ok\":false,\"error\":\"no output from the load generator\"}"
    fi
    local extra
    extra="\"server\":\"$server\",\"args\":\"$args\",\"tries\":$((tries + 1)),$(log_summary "$label.$server" "${logs[@]}")"
    [ -z "$variant" ] || extra+=",\"variant\":\"$variant\""
    line="${line%\}},$extra}"
}

T0=$(date +%s)
for load in $LOADS; do
    var="LOAD_$load"
    args=${!var:-}
    [ -n "$args" ] || { echo "run.sh: unknown load $load" >&2; exit 2; }
    # runs: server:variant:label
    runs=()
    for server in ${SERVERS//,/ }; do
        if [ "$load" = xnode1k ]; then
            # a cluster of two one-worker nginx nodes, or of two Node.js servers
            if [ "$server" = module-2w ]; then
                say "xnode1k: no run on module-2w (each node of the cluster has 1 worker)"
                continue
            fi
            if [ ! -x "$REDIS_BIN" ] || [ ! -x "$REDIS_CLI" ]; then
                say "xnode1k: no $REDIS_BIN or $REDIS_CLI (Debian's redis-server): skipped"
                break
            fi
            runs+=("$server:local:$load-local" "$server:xnode:$load")
        else
            runs+=("$server::$load")
        fi
    done
    for run in "${runs[@]}"; do
        IFS=: read -r server variant label <<< "$run"
        tries=0
        while :; do
            wait_idle
            run_once "$load" "$label" "$server" "$variant" "$args"
            echo "$line" >&2
            # other processes took CPU during the run: it measured them too
            others=$(printf '%s' "$line" | sed -n 's/.*"others_cpu_util":\([-0-9.]*\).*/\1/p')
            if [ -n "$others" ] && [ "$tries" -lt "$BUSY_RETRIES" ] \
                && awk -v o="$others" -v t="$BUSY_LIMIT" 'BEGIN { exit !(o > t) }'; then
                tries=$((tries + 1))
                say "other processes took $others cores during the run: again ($tries of $BUSY_RETRIES)"
                continue
            fi
            break
        done
        echo "$line" >> "$RESULTS"
    done
done
say "loads done in $(( $(date +%s) - T0 )) s"

if [ "$MICRO" = 1 ] && [ -x "$MICRO_BIN" ]; then
    say "micro-benchmarks"
    "$MICRO_BIN" --benchmark_min_time=0.2 --benchmark_out="$OUT/micro.json" \
        --benchmark_out_format=json > "$OUT/micro.txt" 2>&1 || say "micro-benchmarks failed"
fi

"$NODE_BIN" "$HERE/table.js" "$OUT" | tee "$OUT/table.md"
say "results in $OUT"
