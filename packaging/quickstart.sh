#!/usr/bin/env bash
# The README's first command: install what is missing, build hearth into
# build/, and run its main job on the embedded default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/setup-debian.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
exec build/hearth selftest
