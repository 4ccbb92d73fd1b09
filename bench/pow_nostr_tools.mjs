// nostr-tools minePow tries per second on the event bench_pow wrote, so
// hearth and nostr-tools mine the same event (bench/pow.sh runs both).
//
// minePow restarts its count and sets created_at to the current second
// whenever the second changes; here Date.prototype.getTime is pinned to
// the event's created_at, so the count never restarts and the nonce it
// returns is exactly the number of hashes it did. minePow still builds a
// Date per try, as it does for any caller.
//
// usage: node pow_nostr_tools.mjs EVENT.json [--seconds S] [--difficulty D]
//        [--json]
// nostr-tools comes from tests/interop/node_modules (tests/interop/setup.sh).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const modules = join(dirname(fileURLToPath(import.meta.url)), '..', 'tests', 'interop', 'node_modules');
let nip13;
try {
  nip13 = await import(pathToFileURL(join(modules, 'nostr-tools', 'lib', 'esm', 'nip13.js')).href);
} catch {
  console.error('pow_nostr_tools: nostr-tools not installed; run tests/interop/setup.sh');
  process.exit(2);
}
const version = JSON.parse(readFileSync(join(modules, 'nostr-tools', 'package.json'), 'utf8')).version;

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = opt('--seconds', 3);
const difficulty = opt('--difficulty', 12);
const json = args.includes('--json');
const base = JSON.parse(readFileSync(args[0], 'utf8'));

const realGetTime = Date.prototype.getTime;
Date.prototype.getTime = function () { return base.created_at * 1000; };

let tries = 0, runs = 0;
const t0 = process.hrtime.bigint();
let elapsed = 0;
while (elapsed < seconds) {
  // a fresh copy per run: minePow appends its nonce tag to the event
  const ev = { ...base, tags: base.tags.filter((t) => t[0] !== 'nonce').map((t) => [...t]) };
  const mined = nip13.minePow(ev, difficulty);
  tries += Number(mined.tags[mined.tags.length - 1][1]);
  runs++;
  elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
}
Date.prototype.getTime = realGetTime;
const rate = tries / elapsed;
if (json)
  console.log(JSON.stringify({ nostr_tools: version, difficulty, runs, tries, seconds: elapsed, tries_s: rate }));
else
  console.log(`nostr-tools ${version} minePow: ${runs} events at difficulty ${difficulty}, ${tries} tries in ${elapsed.toFixed(2)} s: ${rate.toFixed(0)} tries/s`);
