#!/bin/bash
# Prepares nginx sources for building the module out of nginx's tree:
# configure writes objs/ngx_auto_config.h (whose macros make up the module
# signature that load_module checks) and objs/<module>_modules.c. With
# Debian's nginx-dev, the flags are the ones the stock nginx was built with,
# so the module loads into /usr/sbin/nginx; elsewhere --with-compat is used.
set -euo pipefail

src=$1
build=$2
addon=$3

rm -rf "$build"
mkdir -p "$build"
cp -a "$src"/. "$build"/
cd "$build"

flags=(--with-compat)
if [ -f conf_flags ]; then
    # shellcheck disable=SC1091
    source ./conf_flags
    flags=("${NGX_CONF_FLAGS[@]}")
fi

if ! ./configure "${flags[@]}" --add-dynamic-module="$addon" \
        > configure.log 2>&1; then
    cat configure.log >&2
    exit 1
fi
