#!/bin/sh
# NIP-13 mining, side by side on one event: OpenSSL's single-block
# SHA-256, hearth per implementation on one thread and on all threads,
# and nostr-tools minePow (docs/benchmarks.md, "NIP-13 proof of work").
#
#   bench/pow.sh [bench_pow options, e.g. --seconds 2 --rounds 3]
#
# Environment: BUILD (build-bench, a release build made if missing),
# JS_SECONDS (5), JS_DIFFICULTY (12).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-bench}
if [ ! -d "$build" ]; then
    meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" bench/bench_pow >/dev/null
[ -d "$root/tests/interop/node_modules/nostr-tools" ] ||
    "$root/tests/interop/setup.sh" >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# the event both sides mine: bench_pow's default, written out for node
"$build/bench/bench_pow" --seconds 0.01 --rounds 1 --write-event "$tmp/event.json" >/dev/null
node "$root/bench/pow_nostr_tools.mjs" "$tmp/event.json" \
    --seconds "${JS_SECONDS:-5}" --difficulty "${JS_DIFFICULTY:-12}" --json >"$tmp/js.json"
js=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).tries_s)' "$tmp/js.json")
node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1]));
console.log(`nostr-tools ${j.nostr_tools}: minePow at difficulty ${j.difficulty}, ${j.runs} events, ${j.tries} tries in ${j.seconds.toFixed(2)} s`)' "$tmp/js.json"
"$build/bench/bench_pow" --event "$tmp/event.json" --js "$js" "$@"
