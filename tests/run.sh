#!/usr/bin/env bash
# The README's second command (and exactly what .ci/run calls): install what
# is missing, build once with AddressSanitizer + UndefinedBehaviorSanitizer,
# run every test (unit, vectors, interop with nostr-tools), run each libFuzzer
# target briefly, and end with the line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}

bash packaging/setup-debian.sh --test || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
bash tests/interop/setup.sh || echo "interop: npm install failed; interop tests will fail" >&2

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
passed=0 failed=0

if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan --buildtype=debug -Db_sanitize=address,undefined \
        -Db_lundef=false >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C build-asan; then
    echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
meson test -C build-asan --print-errorlogs --num-processes 2
counts=$(python3 - build-asan/meson-logs/testlog.json <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL"):
        ok += 1
    else:  # FAIL, TIMEOUT, SKIP, ERROR: a skipped test proves nothing
        bad += 1
        print("not passed:", r["name"], r["result"], file=sys.stderr)
print(ok, bad)
PY
)
passed=$((passed + ${counts% *})); failed=$((failed + ${counts#* }))

# libFuzzer targets: built with clang, each run for FUZZ_SECONDS from its
# seed corpus; a crash, leak or sanitizer report fails the run.
if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz --buildtype=debug -Dfuzz=true -Dinterop=false \
        -Dcuda=disabled -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
if ninja -C build-fuzz >/dev/null; then
    for t in event message filter nip44 bech32 relay nip90 sse meter config bolt11 nip49; do
        work=$(mktemp -d)
        seeds=tests/fuzz/corpus/$t
        [ -d "$seeds" ] || seeds=
        if build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$FUZZ_SECONDS" \
            -max_len=65536 -print_final_stats=0 "$work" $seeds >"$work.log" 2>&1; then
            echo "fuzz_$t: ok ($FUZZ_SECONDS s)"; passed=$((passed + 1))
        else
            echo "fuzz_$t: FAILED"; tail -40 "$work.log"; failed=$((failed + 1))
        fi
        rm -rf "$work" "$work.log"
    done
else
    echo "fuzz build failed"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
