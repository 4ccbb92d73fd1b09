#!/usr/bin/env bash
# Build the Debian package from this source tree: copies the tree (without
# build directories and node_modules) to a temporary directory with
# packaging/debian as debian/, runs dpkg-buildpackage, and leaves the .deb
# in build-deb/. Needs: apt-get install debhelper dpkg-dev (plus the build
# dependencies packaging/setup-debian.sh installs).
#   bash packaging/build-deb.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n "s/^ *version : '\(.*\)',/\1/p" "$src/meson.build")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree="$work/hearth-$version"
mkdir -p "$tree"
tar -C "$src" --exclude='./build*' --exclude='node_modules' --exclude='./.git' \
    -cf - . | tar -C "$tree" -xf -
mv "$tree/packaging/debian" "$tree/debian"
(cd "$tree" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-} parallel=$(nproc)" \
    dpkg-buildpackage -us -uc -b)
mkdir -p "$src/build-deb"
cp "$work"/*.deb "$src/build-deb/"
ls -l "$src"/build-deb/*.deb
