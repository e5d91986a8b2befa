#!/bin/bash
# Builds ngx_http_socketio_module.so for an nginx that is already installed
# (nginx.org's packages, a distribution's nginx, a custom build), from the
# sources of that same nginx version:
#
#     conf/build-for-nginx.sh [--nginx BINARY] [--out DIR] SOURCES
#
# SOURCES is the nginx source tree of the version BINARY is (a directory, or
# the release tarball nginx-VERSION.tar.gz). BINARY defaults to the nginx on
# PATH, DIR to build/for-nginx-VERSION/. The script configures a copy of the
# sources with the configure arguments `BINARY -V` prints, adds this module
# with --add-dynamic-module, and builds only the module. Then
#
#     load_module DIR/ngx_http_socketio_module.so;
#
# loads into BINARY: nginx refuses a module whose signature (made from the
# configure options and what configure found on the machine) differs from
# its own, and the same arguments on the same kind of machine give the same
# signature. The module needs a C++17 compiler and Boost.JSON
# (libboost-json-dev on Debian), and configure needs the -dev packages the
# binary's options ask for (OpenSSL, PCRE2, zlib, ...).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

nginx_bin=
out=
while [ $# -gt 0 ]; do
    case $1 in
        --nginx) nginx_bin=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        -h|--help) usage ;;
        -*) echo "build-for-nginx: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || usage
sources=$1

if [ -z "$nginx_bin" ]; then
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
fi
[ -x "$nginx_bin" ] || { echo "build-for-nginx: no nginx binary at $nginx_bin (use --nginx)" >&2; exit 1; }

# nginx -V prints on stderr: "nginx version: nginx/1.26.3" ... "configure
# arguments: --prefix=... '--with-cc-opt=...'"
info=$("$nginx_bin" -V 2>&1)
version=$(sed -n 's|^nginx version: [^/]*/\([0-9.]*\).*|\1|p' <<<"$info")
configure_line=$(sed -n 's/^configure arguments: //p' <<<"$info")
[ -n "$version" ] || { echo "build-for-nginx: cannot read the version from $nginx_bin -V:" >&2; echo "$info" >&2; exit 1; }

out=${out:-$root/build/for-nginx-$version}
out=$(mkdir -p "$out" && cd "$out" && pwd)
tree=$out/nginx-src

# a fresh copy of the sources: the caller's tree may be read-only, or a
# packaged one (Debian's nginx-dev), and configure writes into the tree
rm -rf "$tree"
mkdir -p "$tree"
if [ -f "$sources" ]; then
    tar xzf "$sources" -C "$tree" --strip-components=1
elif [ -d "$sources" ]; then
    cp -a "$sources"/. "$tree"/
    rm -rf "$tree/objs" "$tree/Makefile"
else
    echo "build-for-nginx: no nginx sources at $sources" >&2
    exit 1
fi

src_version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' "$tree/src/core/nginx.h" 2>/dev/null || true)
if [ "$src_version" != "$version" ]; then
    echo "build-for-nginx: $nginx_bin is nginx $version but $sources holds nginx ${src_version:-?}:" \
         "the module must be built against the sources of the nginx that loads it" >&2
    exit 1
fi

# The arguments as configure got them. nginx quotes a value with spaces in
# single quotes ('--with-cc-opt=-g -O2'); xargs splits on the same rules
# without running anything the text might hold, as eval would.
args=()
if [ -n "$configure_line" ]; then
    mapfile -d '' args < <(printf '%s\n' "$configure_line" | xargs printf '%s\0')
fi

flags=()
compat=no
for a in "${args[@]}"; do
    case $a in
        --add-module=*|--add-dynamic-module=*)
            # other third-party modules are not needed to build this one;
            # keep those whose sources are still where they were built from
            # (a static one may define what the signature depends on)
            if [ -d "${a#*=}" ]; then
                flags+=("$a")
            else
                echo "build-for-nginx: leaving out $a (no such directory here)"
            fi
            ;;
        --builddir=*) ;;   # ours is the copy's objs/
        --with-compat) compat=yes; flags+=("$a") ;;
        *) flags+=("$a") ;;
    esac
done
if [ $compat = no ]; then
    echo "build-for-nginx: note: $nginx_bin was built without --with-compat;" \
         "the module loads only if this machine's configure finds what the binary's did"
fi

cd "$tree"
configure=./configure
[ -x "$configure" ] || configure=auto/configure   # the git tree of a release tag

echo "build-for-nginx: nginx $version ($nginx_bin), configuring in $tree"
if ! "$configure" "${flags[@]}" --add-dynamic-module="$root" >configure.log 2>&1; then
    tail -n 30 configure.log >&2
    echo "build-for-nginx: configure failed (all of it in $tree/configure.log);" \
         "a missing library usually means a missing -dev package" >&2
    exit 1
fi

# only this module: `make modules` would build every dynamic module the
# binary was configured with (some need sources a packaged tree lacks)
echo "build-for-nginx: building the module"
if ! make -j"$(nproc)" -f objs/Makefile objs/ngx_http_socketio_module.so >make.log 2>&1; then
    tail -n 40 make.log >&2
    echo "build-for-nginx: the build failed (all of it in $tree/make.log)" >&2
    exit 1
fi

cp objs/ngx_http_socketio_module.so "$out/"
echo "build-for-nginx: $out/ngx_http_socketio_module.so"
echo "build-for-nginx: add to the main context of nginx.conf:"
echo "    load_module $out/ngx_http_socketio_module.so;"
