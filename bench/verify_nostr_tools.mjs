// nostr-tools verifyEvent throughput over the events bench_verify wrote, so
// hearth and nostr-tools are timed on identical input.
//
// Every round JSON.parses each line afresh: verifyEvent caches its verdict
// on the event object under a symbol, and timing a second call on the same
// object would time a property lookup. Parsing is part of the work any JS
// relay or client does per received event, just as hearth's number includes
// its parse.
//
// The default `nostr-tools` entry point verifies in pure JavaScript with
// @noble/curves (BigInt arithmetic). nostr-tools also ships an opt-in
// WebAssembly build of libsecp256k1 (`nostr-tools/wasm` + nostr-wasm);
// --wasm times that too, for context.
//
// usage: node verify_nostr_tools.mjs EVENTS.jsonl [--rounds R] [--limit N]
//        [--wasm] [--json]
// nostr-tools comes from tests/interop/node_modules (tests/interop/setup.sh).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const modules = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'interop', 'node_modules');

function pkg(name) {
  try {
    return JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8'));
  } catch {
    console.error(`verify_nostr_tools: ${name} not installed; run tests/interop/setup.sh`);
    process.exit(2);
  }
}

// bench/ has no node_modules of its own: resolve the ESM entry through the
// package's exports map by hand
async function load(name, sub = '.') {
  const p = pkg(name);
  const e = p.exports?.[sub];
  const file = typeof e === 'string' ? e : e?.import ?? e?.default ?? p.module ?? p.main;
  return import(pathToFileURL(join(modules, name, file)).href);
}

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const file = args.find((a, i) => !a.startsWith('--') && !['--rounds', '--limit'].includes(args[i - 1]));
if (!file) {
  console.error('usage: node verify_nostr_tools.mjs EVENTS.jsonl [--rounds R] [--limit N] [--wasm] [--json]');
  process.exit(2);
}
const rounds = opt('--rounds', 3);
const limit = opt('--limit', Infinity);
const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(0, limit);

function bench(verifyEvent) {
  const pass = (n) => {
    let ok = 0;
    for (let i = 0; i < n; i++)
      ok += verifyEvent(JSON.parse(lines[i])) ? 1 : 0;
    return ok;
  };
  pass(Math.min(lines.length, 1000));   // let the JIT settle
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint();
    const ok = pass(lines.length);
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    if (ok !== lines.length) {
      console.error(`verify_nostr_tools: only ${ok} of ${lines.length} events verified`);
      process.exit(1);
    }
    best = Math.min(best, s);
  }
  return lines.length / best;
}

const result = {
  events: lines.length,
  rounds,
  node: process.versions.node,
  nostr_tools_version: pkg('nostr-tools').version,
  noble_curves_version: pkg('@noble/curves').version,
};
const nt = await load('nostr-tools');
result.verify_per_s = bench(nt.verifyEvent);

if (args.includes('--wasm')) {
  const w = await load('nostr-tools', './wasm');
  const { initNostrWasm } = await load('nostr-wasm');
  w.setNostrWasm(await initNostrWasm());
  result.nostr_wasm_version = pkg('nostr-wasm').version;
  result.wasm_verify_per_s = bench(w.verifyEvent);
}

if (args.includes('--json')) {
  console.log(JSON.stringify(result));
} else {
  console.log(`${lines.length} events, best of ${rounds} rounds, node ${result.node}`);
  console.log(`nostr-tools ${result.nostr_tools_version} verifyEvent (pure JS, @noble/curves ` +
    `${result.noble_curves_version}): ${result.verify_per_s.toFixed(0)} events/s`);
  if (result.wasm_verify_per_s)
    console.log(`nostr-tools/wasm verifyEvent (nostr-wasm ${result.nostr_wasm_version}): ` +
      `${result.wasm_verify_per_s.toFixed(0)} events/s`);
}
