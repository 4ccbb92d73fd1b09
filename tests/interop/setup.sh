#!/bin/sh
# Installs the pinned nostr-tools for the interop tests and bench/ scripts.
# node_modules is not committed; package-lock.json is, so `npm ci` gives
# every machine the exact same dependency tree (and fails loudly if the
# lock and package.json disagree instead of silently re-resolving).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
# skip only when every dependency in package.json is installed (new ones
# were added since node_modules was made: refresh it)
if command -v node >/dev/null 2>&1 && (cd "$here" && node -e '
    const deps = Object.keys(require("./package.json").dependencies);
    const fs = require("fs");
    process.exit(deps.every((d) => fs.existsSync("node_modules/" + d)) ? 0 : 1);
' 2>/dev/null); then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "tests/interop/setup.sh: npm not found; install Node.js >= 20" >&2
    exit 1
fi
cd "$here"
npm ci --no-audit --no-fund
