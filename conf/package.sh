#!/bin/bash
# Builds the Debian package of the module for Debian's nginx:
#
#     conf/package.sh       # -> build/libnginx-mod-http-socketio_VERSION_ARCH.deb
#     apt-get install ./build/libnginx-mod-http-socketio_*.deb
#
# The packaging is conf/debian/ (the repository keeps its top level: no
# debian/ there). The source package is assembled in build/package/ from
# what the module is built from (config, src/) and what the package ships
# besides it (README.md, the example configurations), with conf/debian/ as
# its debian/, and dpkg-buildpackage builds the binary package there as
# Debian's own libnginx-mod-* packages are built (see conf/debian/rules).
# The build needs debhelper, dpkg-dev, nginx-dev and Boost.JSON:
# conf/setup.sh installs them. The whole log is build/package/build.log.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

name=libnginx-mod-http-socketio
version=$(dpkg-parsechangelog -l conf/debian/changelog -S Version)
arch=$(dpkg --print-architecture)
stage=$root/build/package
tree=$stage/$name-$version
deb=${name}_${version}_${arch}.deb

rm -rf "$stage"
mkdir -p "$tree/conf"
cp -a config README.md src "$tree/"
cp -a conf/existing-site.conf conf/nginx.conf "$tree/conf/"
cp -a conf/debian "$tree/debian"

cd "$tree"
if ! dpkg-checkbuilddeps; then
    echo "package: the build dependencies above are missing (conf/setup.sh installs them)" >&2
    exit 1
fi

echo "package: building $deb in $stage"
if ! DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" \
        dpkg-buildpackage -b -uc -us >"$stage/build.log" 2>&1; then
    tail -n 60 "$stage/build.log" >&2
    echo "package: dpkg-buildpackage failed (the whole log: $stage/build.log)" >&2
    exit 1
fi

cp "$stage/$deb" "$root/build/$deb"
echo "package: build/$deb"
dpkg-deb -f "$root/build/$deb" Package Version Architecture Depends
dpkg-deb -c "$root/build/$deb" | awk '{print "    " $6 ($7 ? " " $7 " " $8 : "")}'
