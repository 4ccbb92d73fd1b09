#!/bin/sh
# Installs the pinned nostr-tools for the interop tests and bench/ scripts.
# node_modules is not committed; package-lock.json is, so `npm ci` gives
# every machine the exact same dependency tree (and fails loudly if the
# lock and package.json disagree instead of silently re-resolving).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -d "$here/node_modules/nostr-tools" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "tests/interop/setup.sh: npm not found; install Node.js >= 20" >&2
    exit 1
fi
cd "$here"
npm ci --no-audit --no-fund
