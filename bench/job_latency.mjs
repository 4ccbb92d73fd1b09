// End-to-end latency of a trivial NIP-90 job through a local relay:
// the time from sending the signed request (["EVENT", req]) to receiving
// its result on an open subscription, for N jobs one after another.
// The job is NIP-13 delegation (kind 5970) at difficulty 1: about two
// hashes, so what is measured is hearth's path (relay ingest and commit,
// delivery, the provider's admission and durable record, the worker,
// signing, the result's commit and delivery), not the work.
//
// Reference in the same run: the relay's own echo, the time from sending a
// signed kind-1 note to receiving it back on a subscription: the floor any
// job round trip through that relay sits on (it has one relay commit; a
// job has two, plus the provider's records).
//
// usage: node bench/job_latency.mjs URL PROVIDER_PUBKEY [N] [--json]
// npm packages resolve from tests/interop/node_modules through its helpers
import { WebSocket, makeEvent, newKey } from '../tests/interop/relay_common.mjs';

const [url, provider, nArg] = process.argv.slice(2);
const N = Number(nArg || 200);
const json = process.argv.includes('--json');
// The relay limits each author to 50 events a second (docs/relay.md):
// the jobs are spread over enough keys to stay well under it.
const keys = Array.from({ length: 32 }, newKey);
let nextKey = 0;
const pickKey = () => keys[nextKey++ % keys.length];

const ws = new WebSocket(url);
await new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); });
const waiters = new Map();
const oks = new Map();
ws.on('message', (data) => {
  const m = JSON.parse(data);
  if (m[0] === 'OK')
    oks.set(m[1], m[2] ? 'accepted' : `refused (${m[3]})`);
  if (m[0] !== 'EVENT')
    return;
  const ev = m[2];
  const key = ev.kind === 6970 ? ev.tags.find((t) => t[0] === 'e')?.[1] : ev.id;
  const w = waiters.get(key);
  if (w) {
    waiters.delete(key);
    w(process.hrtime.bigint());
  }
});
const send = (msg) => ws.send(JSON.stringify(msg));
send(['REQ', 'results', { kinds: [6970], '#p': keys.map((k) => k.pk) }]);
send(['REQ', 'echo', { kinds: [1], authors: keys.map((k) => k.pk) }]);
await new Promise((r) => setTimeout(r, 300));

let seq = 0;
function request() {
  const key = pickKey();
  const input = { pubkey: key.pk, created_at: Math.floor(Date.now() / 1000), kind: 1,
    tags: [], content: `latency ${seq++}` };
  return makeEvent(key, { kind: 5970, content: '',
    tags: [['i', JSON.stringify(input), 'text'], ['param', 'pow', '1'], ['p', provider]] });
}
function note() {
  return makeEvent(pickKey(), { kind: 1, content: `echo ${seq++}` });
}

async function timeOne(ev, timeoutMs = 10000) {
  const got = new Promise((res) => waiters.set(ev.id, res));
  const t0 = process.hrtime.bigint();
  send(['EVENT', ev]);
  const t1 = await Promise.race([got, new Promise((r) => setTimeout(() => r(null), timeoutMs))]);
  if (t1 === null)
    throw new Error(`no answer to ${ev.kind} ${ev.id} within ${timeoutMs} ms ` +
      `(the relay ${oks.get(ev.id) ?? 'never answered'})`);
  return Number(t1 - t0) / 1e6;
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1] };
}

// signing is not part of the round trip: sign everything first
const reqs = Array.from({ length: N + 20 }, request);
const notes = Array.from({ length: N + 20 }, note);
for (let i = 0; i < 20; i++) { // warm-up: connections, caches, page faults
  await timeOne(notes[N + i]);
  await timeOne(reqs[N + i]);
}
const echo = [];
const job = [];
for (let i = 0; i < N; i++) { // interleaved, so both see the same machine
  echo.push(await timeOne(notes[i]));
  job.push(await timeOne(reqs[i]));
}
ws.close();
const out = { relay_echo_ms: stats(echo), job_round_trip_ms: stats(job) };
if (json) {
  console.log(JSON.stringify(out));
} else {
  const f = (x) => x.toFixed(2).padStart(7);
  console.log('                         n      p50      p90      p99      max  (ms)');
  for (const [name, s] of [['relay echo (reference)', out.relay_echo_ms],
    ['trivial job round trip', out.job_round_trip_ms]])
    console.log(`${name.padEnd(23)} ${String(s.n).padStart(4)} ${f(s.p50)}  ${f(s.p90)}  ${f(s.p99)}  ${f(s.max)}`);
}
