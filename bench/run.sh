#!/bin/sh
# Verification throughput, side by side on the same events: raw
# libsecp256k1, hearth's full parse + verify pipeline, and nostr-tools.
#
#   bench/run.sh [--json]
#
# Environment: EVENTS (20000), KEYS (200), ROUNDS (5), NT_EVENTS (how many
# of the events nostr-tools verifies per round, default 3000: it is ~100x
# slower, and its per-event rate does not depend on how many it sees),
# NT_ROUNDS (3), BUILD (build-bench, a release build made if missing).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build-bench}
events=${EVENTS:-20000}
keys=${KEYS:-200}
rounds=${ROUNDS:-5}
nt_events=${NT_EVENTS:-3000}
nt_rounds=${NT_ROUNDS:-3}
json=0
[ "${1:-}" = "--json" ] && json=1

if [ ! -d "$build" ]; then
    meson setup "$build" "$root" --buildtype=release >/dev/null
fi
if [ "$(meson introspect --buildoptions "$build" |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>
        console.log(JSON.parse(s).find(o=>o.name==="buildtype").value))')" != release ]; then
    echo "bench/run.sh: $build is not a release build; numbers would mislead" >&2
    exit 1
fi
# only what the benchmark needs, so a half-written CLI elsewhere in the
# tree does not stop it
ninja -C "$build" bench/bench_verify >/dev/null
"$root/tests/interop/setup.sh" >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
"$build/bench/bench_verify" --events "$events" --keys "$keys" --rounds "$rounds" \
    --write "$tmp/events.jsonl" --json >"$tmp/c.json"
node "$root/bench/verify_nostr_tools.mjs" "$tmp/events.jsonl" --limit "$nt_events" \
    --rounds "$nt_rounds" --wasm --json >"$tmp/js.json"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
CPU="$cpu" CORES=$(nproc) JSON=$json node - "$tmp/c.json" "$tmp/js.json" <<'EOF'
const fs = require('fs');
const c = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const js = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const raw = c.raw_parse_verify_per_s, h = c.hearth_pipeline_per_s;
const out = {
  ...c, cpu_model: process.env.CPU, cores: Number(process.env.CORES),
  nostr_tools: js,
  hearth_speedup_vs_nostr_tools: h / js.verify_per_s,
  hearth_speedup_vs_nostr_tools_wasm: js.wasm_verify_per_s ? h / js.wasm_verify_per_s : null,
};
if (process.env.JSON === '1') {
  console.log(JSON.stringify(out));
  process.exit(0);
}
const row = (name, rate, pct, x) => console.log(name.padEnd(58) +
  rate.toFixed(0).padStart(10) + (1e6 / rate).toFixed(1).padStart(10) +
  (pct ?? '').padStart(9) + (x ?? '').padStart(11));
const pct = (r) => (100 * r / raw).toFixed(1) + '%';
console.log(`${out.cpu_model}, ${out.cores} cores; bench_verify pinned to cpu ${c.cpu}, node unpinned`);
console.log(`${c.events} events from ${c.keys} keys, ${c.avg_json_bytes.toFixed(0)} B of JSON each; ` +
  `C: best of ${c.rounds} rounds, nostr-tools: ${js.events} of them, best of ${js.rounds}\n`);
console.log(''.padEnd(58) + 'events/s'.padStart(10) + 'us/event'.padStart(10) +
  'vs raw'.padStart(9) + 'hearth is'.padStart(11));
row('raw libsecp256k1: xonly_pubkey_parse + schnorrsig_verify', raw, '100%');
row('raw libsecp256k1: schnorrsig_verify, keys pre-parsed', c.raw_verify_per_s, pct(c.raw_verify_per_s));
row('hearth: event_parse + event_verify (full pipeline)', h, pct(h));
row(`nostr-tools ${js.nostr_tools_version} verifyEvent (noble, pure JS)`, js.verify_per_s,
  pct(js.verify_per_s), (h / js.verify_per_s).toFixed(1) + 'x');
if (js.wasm_verify_per_s)
  row(`nostr-tools/wasm verifyEvent (nostr-wasm ${js.nostr_wasm_version})`, js.wasm_verify_per_s,
    pct(js.wasm_verify_per_s), (h / js.wasm_verify_per_s).toFixed(1) + 'x');
console.log(`\ninside hearth's pipeline (us/event): event_parse ` +
  `${(1e6 / c.hearth_parse_per_s).toFixed(1)}, + compute_id ` +
  `${(1e6 / c.hearth_parse_id_per_s - 1e6 / c.hearth_parse_per_s).toFixed(1)}, ` +
  `rest (signature check) ${(1e6 / h - 1e6 / c.hearth_parse_id_per_s).toFixed(1)}`);
console.log(`targets: hearth >= 90% of raw: ${pct(h)} ${h >= 0.9 * raw ? 'met' : 'NOT met'}; ` +
  `>= 20x nostr-tools: ${(h / js.verify_per_s).toFixed(1)}x ${h >= 20 * js.verify_per_s ? 'met' : 'NOT met'}`);
EOF
