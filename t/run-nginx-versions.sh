#!/bin/bash
# The module against other nginx versions than Debian's 1.22 (issue 12).
# For each release in ../shared/nginx/ (1.24.0, 1.26.3, 1.30.4 stable,
# 1.31.4 mainline; or the versions given as arguments):
#
#   1. nginx itself is built from the release's sources, as nginx.org's
#      packages and custom builds are: auto/configure --with-compat
#      --with-http_ssl_module --with-http_v2_module, in build/nginx-VERSION/;
#   2. the module is built for that binary by conf/build-for-nginx.sh, i.e.
#      `auto/configure <its nginx -V arguments> --add-dynamic-module=<repo>`
#      and the module's target of `make modules`, in build/nginx-VERSION/module/;
#   3. a smoke part of t/ runs with NGINX_BIN and SOCKETIO_MODULE set to
#      them: both protocols, WebSocket frames, the chat on several workers,
#      reload.
#
# Before them, conf/build-for-nginx.sh builds the module for the system's
# own nginx (Debian's /usr/sbin/nginx, sources from nginx-dev) and
# socketio-protocol runs against it: the script's other case, a binary
# built elsewhere whose nginx -V quotes its compiler flags.
#
#     t/run-nginx-versions.sh                # all of them (15 to 20 minutes on 2 cores)
#     t/run-nginx-versions.sh 1.31.4         # some versions (no system check then)
#
# The nginx sources are searched in $SOCKETIO_NGINX_SOURCES, by default
# ../shared/nginx next to the repository (where CI machines have them); a
# missing directory or tarball, or a checksum that does not match, fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sources=${SOCKETIO_NGINX_SOURCES:-$root/../shared/nginx}
smoke=(engineio-protocol socketio-protocol websocket workers reload)
if [ $# -gt 0 ]; then
    versions=("$@")
    system_check=no
else
    versions=(1.24.0 1.26.3 1.30.4 1.31.4)
    system_check=yes
fi

if [ ! -d "$sources" ]; then
    echo "run-nginx-versions: FAILED: no nginx sources at $sources" >&2
    echo "  (CI machines have ../shared/nginx next to the clone; set SOCKETIO_NGINX_SOURCES elsewhere)" >&2
    exit 1
fi
sources=$(cd "$sources" && pwd)
[ -d t/node_modules ] || { echo "run-nginx-versions: t/node_modules is missing: run conf/setup.sh first" >&2; exit 1; }

failed=()
summary=()
t_start=$SECONDS

# Runs the given t/ files against NGINX_BIN=$1 SOCKETIO_MODULE=$2; records
# failures under the label $3.
run_smoke() {
    local bin=$1 module=$2 label=$3
    shift 3
    local f conf
    # a module nginx refuses (signature, symbols) says so here in one line,
    # rather than as every test's failure to start nginx
    conf=$(mktemp)
    printf 'load_module %s;\nevents {}\n' "$module" >"$conf"
    if ! "$bin" -t -q -g 'error_log /dev/null; pid /dev/null;' -c "$conf"; then
        rm -f "$conf"
        failed+=("$label: the module does not load")
        return
    fi
    rm -f "$conf"
    for f in "$@"; do
        echo "-- $label: t/$f.test.js"
        if ! (cd t && NGINX_BIN=$bin SOCKETIO_MODULE=$module node --test "$f.test.js"); then
            failed+=("$label: t/$f.test.js")
        fi
    done
}

if [ $system_check = yes ]; then
    echo "== nginx $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'), the system's, through conf/build-for-nginx.sh"
    t0=$SECONDS
    out=$root/build/nginx-system/module
    if conf/build-for-nginx.sh --nginx /usr/sbin/nginx --out "$out" /usr/share/nginx/src; then
        run_smoke /usr/sbin/nginx "$out/ngx_http_socketio_module.so" "system nginx" socketio-protocol
    else
        failed+=("system nginx: conf/build-for-nginx.sh")
    fi
    summary+=("system $(/usr/sbin/nginx -v 2>&1 | sed 's|.*/||'): $((SECONDS - t0)) s")
fi

for v in "${versions[@]}"; do
    echo "== nginx $v"
    t0=$SECONDS
    tarball=$sources/nginx-$v.tar.gz
    if [ ! -f "$tarball" ]; then
        echo "run-nginx-versions: FAILED: $tarball is missing" >&2
        failed+=("$v: no sources")
        continue
    fi
    if [ -f "$sources/SHA256SUMS" ]; then
        if ! (cd "$sources" && grep " nginx-$v.tar.gz\$" SHA256SUMS | sha256sum --quiet -c -); then
            failed+=("$v: checksum")
            continue
        fi
    fi

    dir=$root/build/nginx-$v
    rm -rf "$dir"
    mkdir -p "$dir/src"
    tar xzf "$tarball" -C "$dir/src" --strip-components=1

    # nginx as nginx.org's packages and most custom builds have it: with
    # --with-compat, TLS and HTTP/2; the prefix keeps it away from
    # /usr/local/nginx (the tests give it its own with -p anyway)
    echo "building nginx $v in $dir/src"
    if ! (cd "$dir/src" \
          && auto/configure --with-compat --with-http_ssl_module --with-http_v2_module \
                 --prefix="$dir/inst" >configure.log 2>&1 \
          && make -j"$(nproc)" >make.log 2>&1); then
        tail -n 40 "$dir/src/configure.log" "$dir/src/make.log" 2>/dev/null >&2 || true
        failed+=("$v: building nginx")
        continue
    fi
    bin=$dir/src/objs/nginx
    built=$("$bin" -v 2>&1 | sed 's|.*/||')
    [ "$built" = "$v" ] || { failed+=("$v: the binary says it is $built"); continue; }
    t_nginx=$((SECONDS - t0))

    if ! conf/build-for-nginx.sh --nginx "$bin" --out "$dir/module" "$tarball"; then
        failed+=("$v: conf/build-for-nginx.sh")
        continue
    fi
    t_module=$((SECONDS - t0 - t_nginx))

    t1=$SECONDS
    run_smoke "$bin" "$dir/module/ngx_http_socketio_module.so" "nginx $v" "${smoke[@]}"
    summary+=("$v: nginx built in $t_nginx s, the module in $t_module s, tests $((SECONDS - t1)) s")
done

echo "== nginx versions: $(( (SECONDS - t_start) / 60 )) min $(( (SECONDS - t_start) % 60 )) s in all"
[ ${#summary[@]} -eq 0 ] || printf '   %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "FAILED:"
    printf '   %s\n' "${failed[@]}"
    exit 1
fi
echo "every version passed"
