// The customer side of NIP-90: `hearth job submit / status / cancel`
// against `hearth run` providers on `hearth relay`, plus a dishonest
// provider written here with nostr-tools. Scenarios: the cheapest
// provider chosen and its PoW checked independently; --provider pins one;
// a provider killed mid-job (the customer moves on; the restarted
// provider closes the job and never re-runs it); tampered results
// rejected; cancellation by SIGINT and by `hearth job cancel`; a full
// queue answered "busy" and the customer moving on. Settlement: after a
// verified result the customer answers the provider's metering note
// (kind 7441) with a receipt (kind 7442): accept, or dispute when the
// result was wrong or the note charges above the bid.
//
//   node job_submit.mjs path/to/hearth
import {
  Checks, cleanupDir, freePort, hearthRun, hearthSpawn, newKey, noKeyEnv, sleep,
  startHearthRelay, tmpDir,
} from './pool_common.mjs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { finalizeEvent, getEventHash } from 'nostr-tools/pure';
import { npubEncode } from 'nostr-tools/nip19';
import WebSocket from 'ws';

const hearth = process.argv[2];
if (!hearth) {
  console.error('usage: node job_submit.mjs path/to/hearth');
  process.exit(2);
}

const t = new Checks('job_submit');
const base = tmpDir('job');
t.defer(cleanupDir(base));
const env = noKeyEnv(base);
process.on('uncaughtException', async (e) => {
  t.ok(false, `uncaught: ${e.stack || e}`);
  await t.finish();
});
const now = () => Math.floor(Date.now() / 1000);
const dir = (name) => join(base, name);

function zeroBits(hexId) {
  let n = 0;
  for (const c of hexId) {
    const v = parseInt(c, 16);
    if (v === 0) {
      n += 4;
      continue;
    }
    return n + Math.clz32(v) - 28;
  }
  return n;
}

// resolves once pred(child) holds; throws after ms
async function until(child, pred, ms, what) {
  const end = Date.now() + ms;
  while (!pred(child)) {
    if (Date.now() > end || (child.code !== undefined && !pred(child)))
      throw new Error(`timed out waiting for ${what}; stderr: ${child.stderr.slice(-1500)}`);
    await sleep(50);
  }
}

async function relay(name) {
  const r = await startHearthRelay(hearth, dir(name), await freePort(), []);
  t.defer(() => r.kill('SIGKILL'));
  return r;
}

// `hearth run` with a pow runner; resolves once its offer is on the relay
async function provider(url, name, price, extra = [], key = newKey()) {
  const spec = `pow,price-job=${price}${extra.includes('--queue') ? ',slots=1' : ''}`;
  const p = hearthSpawn(hearth, ['run', '--relay', url, '--data', dir(name), '--key', key.hex,
    '--runner', spec, ...extra], env);
  t.defer(() => p.kill('SIGKILL'));
  await p.waitFor((l) => l.some((x) => x.includes('"ready"')), 20000, `${name} ready`);
  p.key = key;
  p.pk = key.pk;
  p.data = dir(name);
  await offerOn(url, key.pk);
  return p;
}

async function offerOn(url, pk) {
  for (let i = 0; i < 100; i++) {
    const r = await hearthRun(hearth, ['req', JSON.stringify({ kinds: [31907], authors: [pk] }),
      '--relay', url, '--timeout', '5'], '', env);
    if (r.out.some((l) => l.startsWith('{')))
      return;
    await sleep(100);
  }
  throw new Error(`no offer from ${pk} on ${url}`);
}

// events on a relay matching filter (retried: publishes may still land)
async function fetchEvents(url, filter, want = 1) {
  let evs = [];
  for (let i = 0; i < 20; i++) {
    const r = await hearthRun(hearth, ['req', JSON.stringify(filter), '--relay', url,
      '--timeout', '5'], '', env);
    evs = r.out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    if (evs.length >= want)
      return evs;
    await sleep(200);
  }
  return evs;
}

const tag = (ev, name) => (ev.tags.find((x) => x[0] === name) || [])[1];

// The receipt by customer for the note on the request: one, or null.
async function receiptFor(url, customer, noteId) {
  const evs = await fetchEvents(url, { kinds: [7442], authors: [customer], '#e': [noteId] });
  return evs[0] || null;
}

const unsigned = (content) => JSON.stringify({ kind: 1, content, tags: [['t', 'hearth']] });

function submitArgs(url, data, pow, extra = []) {
  return ['job', 'submit', '--kind', '5970', '--pow', String(pow), '--input', unsigned(`job ${data}`),
    '--relay', url, '--data', dir(data), '--json', '--deadline', '120', ...extra];
}

async function submit(url, data, pow, extra = []) {
  const r = await hearthRun(hearth, submitArgs(url, data, pow, extra), '', env, 200000);
  let j = null;
  try {
    j = JSON.parse(r.out.join('\n'));
  } catch {
    // j stays null: the checks say so
  }
  return { ...r, j };
}

async function status(id, data) {
  const r = await hearthRun(hearth, ['job', 'status', id, '--data', data, '--json'], '', env);
  try {
    return JSON.parse(r.out.join('\n'));
  } catch {
    return { code: r.code, err: r.err };
  }
}

// the PoW checked here with nostr-tools, independently of hearth
function powOk(result, target, content) {
  let ev;
  try {
    ev = JSON.parse(result);
  } catch {
    return false;
  }
  const nonce = ev.tags.find((x) => x[0] === 'nonce');
  return getEventHash(ev) === ev.id && zeroBits(ev.id) >= target && !!nonce &&
    Number(nonce[2]) >= target && ev.content === content && ev.kind === 1 &&
    ev.tags.some((x) => x[0] === 't' && x[1] === 'hearth');
}

// Mine in JS: the nonce until the id has `bits` zero bits.
function mine(ev, bits) {
  for (let k = 0; ; k++) {
    ev.tags[ev.tags.length - 1][1] = String(k);
    ev.id = getEventHash(ev);
    if (zeroBits(ev.id) >= bits)
      return ev;
  }
}

// One way to cheat per request, in turn: a forged id; an honest id with
// too few zero bits; real work on changed content; real work under a
// nonce tag that commits to less than asked.
const CHEATS = [
  (ev) => { ev.id = '0'.repeat(16) + getEventHash(ev).slice(16); },
  (ev, target) => {
    for (let k = 0; ; k++) {
      ev.tags[ev.tags.length - 1][1] = String(k);
      ev.id = getEventHash(ev);
      if (zeroBits(ev.id) < target)
        return;
    }
  },
  (ev, target) => { ev.content += ' (edited)'; mine(ev, target); },
  (ev, target) => { ev.tags[ev.tags.length - 1][2] = String(target - 4); mine(ev, target); },
];

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

// input_sha256 as docs/protocol-settlement.md has it: per input, its
// length as 8 bytes little-endian, then the value
function inputHash(req) {
  const h = createHash('sha256');
  for (const x of req.tags.filter((y) => y[0] === 'i')) {
    const v = Buffer.from(x[1], 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(v.length));
    h.update(len);
    h.update(v);
  }
  return h.digest('hex');
}

// A final metering note for req whose result had this content.
function meterNote(req, content, amount, key) {
  return finalizeEvent({ kind: 7441, created_at: now(), content: '', tags: [
    ['e', req.id], ['p', req.pubkey], ['v', '1'], ['seq', '1'], ['final', '1'],
    ['usage', 'jobs', '1'], ['usage', 'tokens_in', '0'], ['usage', 'tokens_out', '0'],
    ['usage', 'gpu_ms', '0'], ['usage', 'hashes', '0'], ['price', 'job', '1'],
    ['amount', String(amount)], ['input_sha256', inputHash(req)],
    ['output_sha256', sha256(content)], ['rail', 'credit']] }, key.sk);
}

// A provider that answers every 5970 request addressed to it at once,
// with the next cheat, then a final metering note for it (ws.notes:
// request id -> note). With ws.overcharge set it mines honestly instead
// but its note charges that many msat.
function evilProvider(url, key) {
  const ws = new WebSocket(url);
  let n = 0;
  ws.notes = new Map();
  ws.on('open', () => ws.send(JSON.stringify(['REQ', 'evil',
    { kinds: [5970], '#p': [key.pk], since: now() - 5 }])));
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m[0] !== 'EVENT' || m[1] !== 'evil')
      return;
    const req = m[2];
    const input = JSON.parse(req.tags.find((x) => x[0] === 'i')[1]);
    const target = Number(req.tags.find((x) => x[0] === 'param' && x[1] === 'pow')[2]);
    const ev = { ...input, tags: [...input.tags, ['nonce', '0', String(target)]] };
    if (ws.overcharge)
      mine(ev, target);
    else
      CHEATS[n++ % CHEATS.length](ev, target);
    const content = JSON.stringify(ev);
    const res = finalizeEvent({ kind: 6970, created_at: now(), content,
      tags: [['e', req.id], ['p', req.pubkey]] }, key.sk);
    ws.send(JSON.stringify(['EVENT', res]));
    const note = meterNote(req, content, ws.overcharge || 1, key);
    ws.notes.set(req.id, note);
    ws.send(JSON.stringify(['EVENT', note]));
  });
  return ws;
}

const r1 = await relay('r1');
const pA = await provider(r1.url, 'pA', 10);
const pB = await provider(r1.url, 'pB', 20);

await t.step('the cheapest provider runs the job; the PoW checks out in nostr-tools', async () => {
  const cust = newKey();
  const s = await submit(r1.url, 'c1', 12, ['--strategy', 'cheapest', '--key', cust.hex]);
  t.ok(s.code === 0, 'submit exits 0', s.err);
  const j = s.j || {};
  t.ok(j.outcome === 'ok' && j.verified === true, 'result verified', j);
  t.ok(j.provider === pA.pk, 'the cheaper provider was chosen', j.provider);
  t.ok(j.amount_msat === 10 && j.attempts && j.attempts.length === 1, 'one attempt, 10 msat', j);
  t.ok(powOk(j.result, 12, 'job c1'), 'id recomputed in JS, >= 12 zero bits', j.result);
  const st = await status(j.id.slice(0, 10), dir('c1'));
  t.ok(st.state === 'done' && st.role === 'customer' && st.provider === pA.pk,
    'status reads it back as done', st);
  const ps = await status(j.id, pA.data);
  t.ok(ps.role === 'provider' && ps.state === 'done', 'the provider table has it done', ps);
  // settlement: the provider's final note, answered by an accept receipt
  const notes = await fetchEvents(r1.url, { kinds: [7441], authors: [pA.pk], '#e': [j.id] });
  const note = notes[0];
  t.ok(note && tag(note, 'final') === '1', 'the provider published a final metering note', notes);
  const rc = note ? await receiptFor(r1.url, cust.pk, note.id) : null;
  t.ok(rc && tag(rc, 'request') === j.id && tag(rc, 'p') === pA.pk &&
    tag(rc, 'status') === 'accept' && tag(rc, 'amount') === tag(note, 'amount') &&
    !rc.tags.some((x) => x[0] === 'reason'),
  'an accept receipt for the note, by the customer, for its amount', rc);
  const a = (j.attempts || [])[0] || {};
  t.ok(a.receipt && rc && a.receipt.id === rc.id && a.receipt.status === 'accepted' &&
    a.receipt.amount_msat === Number(tag(note, 'amount')) && a.receipt.note_id === note.id,
  '--json tells of the receipt', a);
  t.ok(/receipt: accepted \d+ msat/.test(s.err), 'stderr sums it up', s.err);
});

await t.step('--provider pins a provider (npub)', async () => {
  const s = await submit(r1.url, 'c1', 12, ['--provider', npubEncode(pB.pk)]);
  t.ok(s.code === 0 && s.j && s.j.provider === pB.pk && s.j.verified,
    'the pinned provider delivered', s.j || s.err);
  t.ok(s.j && s.j.attempts.every((a) => a.provider === pB.pk), 'nobody else was asked', s.j);
});

await t.step('a provider killed mid-job: the customer moves on; restarted, it never re-runs it', async () => {
  const c = hearthSpawn(hearth, submitArgs(r1.url, 'c3', 26,
    ['--strategy', 'cheapest', '--attempt-timeout', '3']), env);
  t.defer(() => c.kill('SIGKILL'));
  await until(c, (x) => /: \d+%/.test(x.stderr), 20000, 'first progress');
  pA.kill('SIGKILL');
  await c.exited;
  let j = {};
  try {
    j = JSON.parse(c.lines.join('\n'));
  } catch { /* checked below */ }
  t.ok(c.code === 0 && j.outcome === 'ok' && j.provider === pB.pk, 'the other provider delivered',
    j.outcome ? j : c.stderr);
  const first = (j.attempts || [])[0] || {};
  t.ok(first.provider === pA.pk && first.outcome === 'timeout', 'the killed one timed out', j.attempts);
  t.ok(powOk(j.result, 26, 'job c3'), 'its PoW checks out', j.result);
  const st = await status(j.id, dir('c3'));
  t.ok(st.attempts && st.attempts.length === 2 && st.attempts[0].state === 'failed' &&
    st.attempts[1].state === 'done' && st.attempts[1].upstream === first.request_id,
  'status shows the chain: failed, then done, pointing at the first', st);
  // restart the killed provider on its data
  const again = hearthSpawn(hearth, ['run', '--relay', r1.url, '--data', pA.data,
    '--key', pA.key.hex, '--runner', 'pow,price-job=10'], env);
  t.defer(() => again.kill('SIGKILL'));
  await again.waitFor((l) => l.some((x) => x.includes('"ready"')), 20000, 'pA again');
  await sleep(2000);
  const ps = await status(first.request_id, pA.data);
  t.ok(ps.role === 'provider' && ps.state === 'failed' && /restarted/.test(ps.reason),
    'the provider closed the job with an error', ps);
  const short = (first.request_id || '').slice(0, 12);
  t.ok(/resumed 1 unfinished/.test(again.stderr), 'its log says it resumed (closed) it', again.stderr);
  t.ok(!again.stderr.includes(`job ${short} kind`) && !again.stderr.includes(`job ${short} finished`),
    'and never ran it again', again.stderr);
  pA.restarted = again;
});

await t.step('SIGINT withdraws the job; the provider cancels it', async () => {
  const prov = pB;
  const c = hearthSpawn(hearth, submitArgs(r1.url, 'c4', 40, ['--provider', prov.pk]), env);
  t.defer(() => c.kill('SIGKILL'));
  await until(c, (x) => /: \d+%/.test(x.stderr), 20000, 'first progress');
  c.kill('SIGINT');
  await c.exited;
  let j = {};
  try {
    j = JSON.parse(c.lines.join('\n'));
  } catch { /* checked below */ }
  t.ok(c.code === 1 && j.outcome === 'cancelled', 'submit exits 1, cancelled', j.outcome ? j : c.stderr);
  await until(prov, (x) => /cancelled by its customer/.test(x.stderr), 10000, 'provider log');
  t.ok(true, 'the provider logged the cancellation');
});

await t.step('hearth job cancel from another process', async () => {
  const key = newKey();
  const c = hearthSpawn(hearth, submitArgs(r1.url, 'c5', 40,
    ['--provider', pB.pk, '--key', key.hex]), env);
  t.defer(() => c.kill('SIGKILL'));
  await until(c, (x) => /: \d+%/.test(x.stderr), 20000, 'first progress');
  const id = /request ([0-9a-f]{12})/.exec(c.stderr)[1];
  const before = (pB.stderr.match(/cancelled by its customer/g) || []).length;
  const r = await hearthRun(hearth, ['job', 'cancel', id, '--data', dir('c5'), '--key', key.hex,
    '--relay', r1.url], '', env);
  t.ok(r.code === 0, 'job cancel exits 0', r.err);
  await c.exited;
  let j = {};
  try {
    j = JSON.parse(c.lines.join('\n'));
  } catch { /* checked below */ }
  t.ok(j.outcome === 'cancelled', 'the running submit saw its deletion and stopped', j.outcome ? j : c.stderr);
  await until(pB, (x) => (x.stderr.match(/cancelled by its customer/g) || []).length > before,
    10000, 'provider log');
  const st = await status(id, dir('c5'));
  t.ok(st.state === 'cancelled', 'status: cancelled', st);
});

await t.step('tampered results are rejected and the job goes elsewhere', async () => {
  const r2 = await relay('r2');
  const evil = newKey();
  const ws = evilProvider(r2.url, evil);
  t.defer(() => ws.close());
  const pub = await hearthRun(hearth, ['offer', 'publish', '--relay', r2.url, '--key', evil.hex,
    '--no-detect', '--price-job', '1', '--rail', 'credit'], '', env);
  t.ok(pub.code === 0, 'the evil offer is published', pub.err);
  const pC = await provider(r2.url, 'pC', 30);
  for (const [data, why] of [['c6', /id is not/], ['c7', /leading zero bits/],
    ['c7b', /content was changed/], ['c7c', /commits to 8 bits/]]) {
    const s = await submit(r2.url, data, 12, ['--strategy', 'cheapest']);
    const j = s.j || {};
    const first = (j.attempts || [])[0] || {};
    t.ok(first.provider === evil.pk && first.outcome === 'invalid' && why.test(first.reason),
      `${data}: the tampered result was rejected (${why})`, j.attempts || s.err);
    t.ok(s.code === 0 && j.provider === pC.pk && powOk(j.result, 12, `job ${data}`),
      `${data}: the honest provider delivered`, j);
    const note = ws.notes.get(first.request_id);
    const rc = note ? await receiptFor(r2.url, note.tags[1][1], note.id) : null;
    t.ok(rc && tag(rc, 'status') === 'dispute' && tag(rc, 'reason') === 'wrong_result' &&
      tag(rc, 'request') === first.request_id && tag(rc, 'p') === evil.pk,
    `${data}: its note got a dispute receipt (wrong_result)`, rc);
    t.ok(first.receipt && first.receipt.status === 'disputed' &&
      first.receipt.reason === 'wrong_result', `${data}: --json tells of the dispute`, first);
  }
  // a correct result whose note charges above the bid (1 msat)
  ws.overcharge = 50;
  const s = await submit(r2.url, 'c7d', 12, ['--provider', evil.pk]);
  const j = s.j || {};
  const first = (j.attempts || [])[0] || {};
  t.ok(s.code === 0 && j.provider === evil.pk && j.verified && powOk(j.result, 12, 'job c7d'),
    'c7d: the honest work of the overcharging provider is taken', j);
  const note = ws.notes.get(first.request_id);
  const rc = note ? await receiptFor(r2.url, note.tags[1][1], note.id) : null;
  t.ok(rc && tag(rc, 'status') === 'dispute' && tag(rc, 'reason') === 'overcharged' &&
    tag(rc, 'amount') === '0', 'c7d: its note got a dispute receipt (overcharged)', rc);
  t.ok(first.receipt && first.receipt.status === 'disputed' &&
    first.receipt.reason === 'overcharged' && /receipt: disputed \(overcharged\)/.test(s.err),
  'c7d: --json and stderr tell of it', { a: first, err: s.err });
  ws.overcharge = 0;
});

await t.step('a full queue answers "busy" and the customer moves on', async () => {
  const r3 = await relay('r3');
  const pQ = await provider(r3.url, 'pQ', 1, ['--queue', '0']);
  const pD = await provider(r3.url, 'pD', 50);
  const long = hearthSpawn(hearth, submitArgs(r3.url, 'c8', 40, ['--provider', pQ.pk]), env);
  t.defer(() => long.kill('SIGKILL'));
  await until(long, (x) => /: \d+%/.test(x.stderr), 20000, 'the long job running');
  const s = await submit(r3.url, 'c9', 12, ['--strategy', 'cheapest']);
  const j = s.j || {};
  const first = (j.attempts || [])[0] || {};
  t.ok(first.provider === pQ.pk && first.outcome === 'error' && /busy, try later/.test(first.reason),
    'the busy provider said so', j.attempts || s.err);
  t.ok(s.code === 0 && j.provider === pD.pk && j.verified, 'the other provider delivered', j);
  long.kill('SIGINT');
  await long.exited;
});

await t.finish();
