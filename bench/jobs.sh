#!/bin/sh
# End-to-end latency of a trivial NIP-90 job through a local relay, side by
# side with the relay's own echo (bench/job_latency.mjs says what each
# measures). One `hearth run` peer with its embedded relay, data on disk
# (durable commits included: that is what a user gets).
#
#   bench/jobs.sh [--json]
#
# Environment: N (200 jobs), BUILD (build-bench: a release build, made if
# missing), DATA (a directory on the disk to measure; default a fresh one
# under $BUILD).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-bench}
n=${N:-200}
json=""
[ "${1:-}" = "--json" ] && json=--json

if [ ! -d "$build" ]; then
    meson setup "$build" "$root" --buildtype=release >/dev/null
fi
ninja -C "$build" hearth >/dev/null
sh "$root/tests/interop/setup.sh" >/dev/null

data=${DATA:-$(mktemp -d "$build/jobs-bench.XXXXXX")}
key=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
out=$(mktemp)
"$build/hearth" run --port 0 --data "$data/peer" --key "$key" \
    --runner pow,threads=1 >"$out" 2>"$data/peer.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 100); do
    [ -s "$out" ] && break
    sleep 0.1
done
line=$(head -n1 "$out")
url=$(echo "$line" | sed 's/.*"relays":\["\([^"]*\)".*/\1/')
pub=$(echo "$line" | sed 's/.*"pubkey":"\([0-9a-f]*\)".*/\1/')
[ -z "$json" ] && echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; data in $data ($(df -T "$data" | awk 'NR==2{print $2}'))"
node "$root/bench/job_latency.mjs" "$url" "$pub" "$n" $json
