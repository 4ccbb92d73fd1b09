#!/usr/bin/env bash
# The README's first command: install what is missing, build hearth into
# build/, check the Nostr core, and run its main job on the embedded
# default: a whole local market told as it happens (hearth demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/setup-debian.sh
[ -f build/build.ninja ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
build/hearth selftest
# the main job: relay, providers and a customer at work (docs/demo.md)
exec build/hearth demo "$@"
