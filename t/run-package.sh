#!/bin/bash
# The Debian package as a user meets it (issue 12), on this machine's own
# nginx, as root:
#
#   1. apt-get install ./build/libnginx-mod-http-socketio_VERSION_ARCH.deb
#      (conf/package.sh builds it); the module, its load_module line and
#      the symlink that enables it are where Debian's libnginx-mod-*
#      packages put theirs, and the package depends on the nginx ABI;
#   2. the system's `nginx -t` passes, with the module alone and then with
#      a site holding a `socketio;` location (a file dropped into
#      /etc/nginx/sites-enabled/, on a free loopback port);
#   3. the system nginx (/usr/sbin/nginx with /etc/nginx/nginx.conf, its
#      workers as www-data) is started and the seed 000 walk-through runs
#      through it with two socket.io-client clients (t/lib/package-chat.mjs);
#      then it is stopped, and its error logs must hold no alert;
#   4. apt-get purge, and nothing of the package is left: no file, no
#      symlink in /etc/nginx/modules-enabled, /etc/nginx and the module
#      directories as they were before.
#
#     t/run-package.sh [PACKAGE.deb]     # default: the one conf/package.sh builds
#
# It leaves the machine as it found it, failing or not: the site file goes,
# the package is purged, the system nginx it started is stopped. It refuses
# to run when the package is installed already or the system nginx runs
# (it would have to leave them otherwise than it found them). Debian's
# default site, if enabled, listens on port 80: that port must be free.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

name=libnginx-mod-http-socketio
nginx=/usr/sbin/nginx
pidfile=/run/nginx.pid
site=/etc/nginx/sites-enabled/socketio-package-check
check=$root/build/package-check

fail() {
    echo "run-package: FAILED: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root: it installs a package and starts the system nginx"

if [ $# -gt 0 ]; then
    deb=$(realpath "$1")
else
    # the one conf/package.sh builds from this checkout's conf/debian
    deb=$root/build/${name}_$(dpkg-parsechangelog -l conf/debian/changelog -S Version)_$(dpkg --print-architecture).deb
    [ -f "$deb" ] || fail "no $deb: run conf/package.sh first"
fi
[ -f "$deb" ] || fail "no package at $deb"
[ -d t/node_modules/socket.io-client ] || fail "t/node_modules is missing: run conf/setup.sh first"

running_pid() {
    local pid
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
    fi
}

# installed, half-installed, config-files...: anything dpkg still knows of
package_state() {
    local st
    st=$(dpkg-query -W -f='${db:Status-Status}' "$name" 2>/dev/null || true)
    [ "$st" = not-installed ] || echo "$st"
}

[ -z "$(package_state)" ] || fail "$name is $(package_state) already; this check installs and purges it"
[ -z "$(running_pid)" ] || fail "the system nginx runs (pid $(running_pid)); this check starts and stops it"
if [ -e /etc/nginx/sites-enabled/default ] && [ -n "$(ss -ltnH 'sport = :80')" ]; then
    fail "Debian's default site is enabled and port 80 is taken: the system nginx could not start"
fi
[ ! -e "$site" ] || fail "$site exists (left by an interrupted run? remove it)"

# what the machine looks like before: the package's paths that exist, and
# the nginx directories the package writes into
mapfile -t paths < <(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^/\?$')
snapshot() {
    local d dirs=()
    # the module directories exist only while some module package does
    for d in /etc/nginx /usr/lib/nginx /usr/share/nginx/modules-available "/usr/share/doc/$name"; do
        [ -e "$d" ] && dirs+=("$d")
    done
    find "${dirs[@]}" -path "$site" -prune -o -print | LC_ALL=C sort
}
existed=()
for p in "${paths[@]}"; do
    if [ -e "$p" ] || [ -L "$p" ]; then
        existed+=("$p")
    fi
done
before=$(snapshot)
enabled_before=$(ls -A /etc/nginx/modules-enabled)
errlog=/var/log/nginx/error.log
errlog_size=$(stat -c %s "$errlog" 2>/dev/null || echo 0)

started_pid=
cleanup() {
    local rc=$? pid
    set +e
    pid=$(running_pid)
    if [ -n "$pid" ] && [ "$pid" = "$started_pid" ]; then
        echo "run-package: stopping the system nginx (pid $pid)"
        "$nginx" -s quit
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid"
    fi
    rm -f "$site"
    if [ -n "$(package_state)" ]; then
        echo "run-package: purging $name"
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$name" >/dev/null
    fi
    exit $rc
}
trap cleanup EXIT

echo "-- apt-get install ./${deb#"$root"/}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >"$check.apt.log" 2>&1 \
    || { cat "$check.apt.log" >&2; fail "apt-get install"; }
rm -f "$check.apt.log"

echo "-- where the package put the module"
so=/usr/lib/nginx/modules/ngx_http_socketio_module.so
available=/usr/share/nginx/modules-available/mod-http-socketio.conf
enabled=/etc/nginx/modules-enabled/50-mod-http-socketio.conf
[ -f "$so" ] || fail "no $so"
grep -qx 'load_module modules/ngx_http_socketio_module.so;' "$available" || fail "$available: $(cat "$available" 2>&1)"
[ "$(readlink "$enabled")" = "$available" ] || fail "$enabled is not a symlink to $available"
abi=$(dpkg-query -W -f='${Provides}' nginx | grep -o 'nginx-abi-[^ ,]*')
dpkg-query -W -f='${Depends}' "$name" | grep -q "$abi" || fail "$name does not depend on $abi"
ls /usr/share/doc/$name/README.md* /usr/share/doc/$name/examples/existing-site.conf >/dev/null \
    || fail "the README and the examples are not in /usr/share/doc/$name"
echo "$so, $enabled -> $available; depends on $abi"
dpkg -L "$name" | sed 's/^/    /'

echo "-- nginx -t with the module loaded"
"$nginx" -t -q || fail "nginx -t with the module"

rm -rf "$check"
mkdir -p "$check"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat >"$site" <<SITE
# t/run-package.sh: the chat on a loopback port, removed after the check
server {
    listen 127.0.0.1:$port;
    server_name socketio-package-check;
    access_log $check/access.log;
    error_log $check/error.log info;

    location /socket.io/ {
        socketio;
    }
}
SITE

echo "-- nginx -t with a socketio location in a site ($site)"
"$nginx" -t -q || fail "nginx -t with the site"

echo "-- the system nginx, on 127.0.0.1:$port"
"$nginx"
for _ in $(seq 50); do
    started_pid=$(running_pid)
    [ -n "$started_pid" ] && curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
done
[ -n "$started_pid" ] || fail "the system nginx did not start"
echo "master $started_pid; workers: $(ps -o user=,pid= --ppid "$started_pid" | awk '{printf "%s(%s) ", $2, $1}')"

echo "-- the seed 000 walk-through through it"
(cd t && node lib/package-chat.mjs "http://127.0.0.1:$port") || fail "the chat through the system nginx"

echo "-- stopping the system nginx"
"$nginx" -s quit
for _ in $(seq 100); do kill -0 "$started_pid" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$started_pid" 2>/dev/null || fail "the system nginx did not stop within 10 s of nginx -s quit"
started_pid=

bad=$( { tail -c +"$((errlog_size + 1))" "$errlog" 2>/dev/null; cat "$check/error.log"; } \
       | grep -E '\[(alert|crit|emerg)\]|exited on signal' || true)
[ -z "$bad" ] || fail "the error logs say: $bad"

echo "-- apt-get purge $name"
rm -f "$site"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$name" >/dev/null || fail "apt-get purge"
[ -z "$(package_state)" ] || fail "after the purge dpkg has $name as $(package_state)"

left=()
for p in "${paths[@]}"; do
    if { [ -e "$p" ] || [ -L "$p" ]; } && ! printf '%s\n' "${existed[@]}" | grep -qxF "$p"; then
        left+=("$p")
    fi
done
[ ${#left[@]} -eq 0 ] || fail "left after the purge: ${left[*]}"
[ "$(ls -A /etc/nginx/modules-enabled)" = "$enabled_before" ] \
    || fail "/etc/nginx/modules-enabled is not as it was: $(ls -A /etc/nginx/modules-enabled)"
after=$(snapshot)
[ "$after" = "$before" ] || fail "the nginx directories changed: $(diff <(echo "$before") <(echo "$after"))"
[ -z "$(running_pid)" ] || fail "the system nginx still runs"
rm -rf "$check"
echo "the package installs, loads, serves the chat through the system nginx and purges cleanly"
