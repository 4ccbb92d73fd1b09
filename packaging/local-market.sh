#!/usr/bin/env bash
# A local hearth market at work, on one machine with no internet: a relay,
# three providers with different prices (NIP-13 PoW on the CPU) and one
# with the exec runner (HTML to text, kind 5000), and a customer that
# buys jobs with `hearth job submit`: it picks a provider from the market
# view, follows the progress, verifies every result, and moves on when the
# provider it chose is killed in the middle of a job.
#
#   packaging/local-market.sh [BUILD_DIR]     (default build)
#
# Everything lives in a temporary directory, removed at the end.
set -euo pipefail
umask 077 # key files
cd "$(dirname "$0")/.."
build=${1:-build}
hearth=$build/hearth
work=$(mktemp -d "${TMPDIR:-/tmp}/hearth-market.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
key() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }

# wait for the first line of a file (a ready line), at most 20 s
first_line() {
    for _ in $(seq 200); do
        [ -s "$1" ] && { head -n1 "$1"; return; }
        sleep 0.1
    done
    echo "hearth: $1 never became ready" >&2
    exit 3
}

say "a relay on 127.0.0.1 (hearth relay, LMDB store in $work/relay)"
"$hearth" relay --port 0 --json --data "$work/relay" >"$work/relay.json" \
    2>"$work/relay.log" &
pids+=($!)
url=$(first_line "$work/relay.json" | sed 's/.*"url":"\([^"]*\)".*/\1/')
echo "relay: $url"

start_provider() { # name, extra args...
    local name=$1
    shift
    key >"$work/$name.key"
    "$hearth" run --relay "$url" --data "$work/$name" --key "$work/$name.key" \
        "$@" >"$work/$name.out" 2>"$work/$name.log" &
    pids+=($!)
    disown $! # no "Killed" line from the shell when job 4 kills it
    local pub
    pub=$(first_line "$work/$name.out" | sed 's/.*"pubkey":"\([0-9a-f]*\)".*/\1/')
    eval "pid_$name=$!"
    eval "pub_$name=$pub"
    echo "$name: ${pub:0:16}... $*"
}

say "three PoW providers with different prices, one HTML-to-text provider"
start_provider cheap --runner pow,threads=1 --price-mhash 1
start_provider middle --runner pow,threads=1 --price-mhash 3 --price-job 10
start_provider dear --runner pow,threads=1 --price-mhash 9 --price-job 50
start_provider text --runner "exec:$PWD/$build/runners/hearth-html2text,kind=5000" \
    --price-job 5
sleep 1 # the offers reach the relay

key >"$work/customer.key"
customer=(--relay "$url" --data "$work/customer" --key "$work/customer.key")

say "the market as the customer sees it (hearth peers)"
"$hearth" market sync --relay "$url" --data "$work/customer/view" --timeout 3 \
    >/dev/null 2>&1 || true
"$hearth" peers --kind 5970 --data "$work/customer/view" 2>/dev/null || true

say "job 1: mine a note to 16 bits of PoW, cheapest provider"
"$hearth" job submit --pow 16 --strategy cheapest --max-price 100000 \
    --input '{"kind":1,"content":"hello from a local hearth market","tags":[]}' \
    "${customer[@]}"

say "job 2: the same at 20 bits, balanced strategy, NIP-44 encrypted"
"$hearth" job submit --pow 20 --encrypt --max-price 100000 \
    --input '{"kind":1,"content":"a secret note","tags":[["t","hearth"]]}' \
    "${customer[@]}"

say "job 3: HTML to text on the exec runner (kind 5000)"
"$hearth" job submit --kind 5000 --max-price 100 \
    --input '<html><body><h1>Hearth</h1><p>GPU compute <b>over Nostr</b>.</p><ul><li>no server</li><li>signed receipts</li></ul></body></html>' \
    "${customer[@]}"

say "job 4: 27 bits on the cheapest provider, which is killed mid-job"
before=$(grep -c 'kind 5970 running' "$work/cheap.log" || true)
"$hearth" job submit --pow 27 --strategy cheapest --max-price 1000000 \
    --attempt-timeout 4 \
    --input '{"kind":1,"content":"this provider will not finish","tags":[]}' \
    "${customer[@]}" >"$work/job4.out" 2>"$work/job4.err" &
job4=$!
for _ in $(seq 100); do # until the cheap provider has started job 4
    [ "$(grep -c 'kind 5970 running' "$work/cheap.log")" -gt "$before" ] && break
    sleep 0.1
done
kill -9 "$pid_cheap" && echo "(killed the cheap provider with SIGKILL)"
wait "$job4" || true
cat "$work/job4.err" "$work/job4.out"

say "the cheap provider restarts: the job it was running is closed, not re-run"
"$hearth" run --relay "$url" --data "$work/cheap" --key "$work/cheap.key" \
    --runner pow,threads=1 --price-mhash 1 >/dev/null 2>"$work/cheap2.log" &
pids+=($!)
sleep 2
grep -h "failed\|resumed" "$work/cheap2.log" | sed 's/^[^ ]* //' || true

say "the killed job's chain in the customer's job table (hearth job status)"
req=$(grep -o 'request [0-9a-f]*' "$work/job4.err" | head -n1 | cut -d' ' -f2)
[ -n "$req" ] && "$hearth" job status "$req" --data "$work/customer" || true

say "settlement: each provider's ledger, booked from the customer's receipts"
sleep 1
for name in cheap middle dear text; do
    echo "$name:"
    "$hearth" ledger balances --data "$work/$name" 2>/dev/null | sed 's/^/  /' || true
done
echo
echo "jobs delivered per provider:"
for name in cheap middle dear text; do
    printf '  %-7s %s\n' "$name" "$(cat "$work/$name.log" "$work/${name}2.log" 2>/dev/null | grep -c 'delivered' || true)"
done
say "done: every result above was verified by the customer"
