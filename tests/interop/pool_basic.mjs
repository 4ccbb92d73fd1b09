// hearth publish / hearth req through the relay pool against two relay
// implementations: the npm relay @nostr-relay/core (js_relay.mjs) and
// `hearth relay`. Checks per-relay OK lines, de-duplication across relays,
// strict checking of what is printed, the retry policy by prefix
// (blocked: not retried, rate-limited: retried, duplicate: is ok), NIP-11
// limits (max_message_length, min_pow_difficulty), NIP-42 (auth-required
// on write and on read), wss:// with certificate checks, unreachable relays.
//
// usage: node pool_basic.mjs PATH/TO/hearth
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyEvent } from 'nostr-tools/pure';
import { Checks, cleanupDir, eventsInLog, freePort, hearthRun, makeEvent, newKey,
  hearthSpawn, noKeyEnv, publishDirect, sleep, startHearthRelay, startJsRelay,
  tmpDir } from './pool_common.mjs';
import { hearthFromArgv } from './common.mjs';

const hearth = hearthFromArgv();
const T = new Checks('interop-pool-basic');
const dir = tmpDir('pool-basic');
T.defer(cleanupDir(dir));
const env = noKeyEnv(dir);

function relayLines(out) {
  // "<id> <relay> ok" / "<id> <relay> rejected: ..." / "... failed: ..."
  return out.map((l) => {
    const m = /^([0-9a-f]{64}) (\S+) (ok|rejected|failed)(?:: (.*))?$/.exec(l);
    return m ? { id: m[1], relay: m[2], result: m[3], msg: m[4] || '' } : { bad: l };
  });
}

async function startRelay(kind, tag, args = []) {
  if (kind === 'js') {
    const r = await startJsRelay(args);
    T.defer(() => r.kill());
    return r;
  }
  const data = join(dir, `${tag}-data`);
  const r = await startHearthRelay(hearth, data, 0, args);
  T.defer(() => r.kill());
  return r;
}

// Publish, query back through two relays, check the answers.
async function roundTrip(kind) {
  const a = await startRelay(kind, `${kind}-a`);
  const b = await startRelay(kind, `${kind}-b`);
  const key = newKey();
  const signed = Array.from({ length: 12 }, (_, i) =>
    makeEvent(key, { content: `signed ${i} "quoted" \u2028 ✓`, tags: [['t', 'pool']] }));
  const unsigned = Array.from({ length: 8 }, (_, i) =>
    JSON.stringify({ kind: 1, content: `unsigned ${i}`, tags: [['t', 'pool']] }));
  const input = [...signed.map((e) => JSON.stringify(e)), ...unsigned].join('\n') + '\n';
  const relays = ['--relay', a.url, '--relay', b.url];
  let r = await hearthRun(hearth, ['publish', ...relays, '--key', key.hex], input, env);
  let lines = relayLines(r.out);
  T.ok(r.code === 0, `${kind}: publish exits 0`, r.err);
  T.ok(lines.length === 40 && lines.every((l) => l.result === 'ok'),
    `${kind}: 20 events x 2 relays all ok`, r.out.slice(0, 5));
  T.ok(new Set(lines.map((l) => l.relay)).size === 2, `${kind}: both relays answered`);

  // again: the relays already have them; "duplicate:" counts as ok
  r = await hearthRun(hearth, ['publish', ...relays, '--json'],
    signed.map((e) => JSON.stringify(e)).join('\n'), env);
  const objs = r.out.map((l) => JSON.parse(l));
  T.ok(r.code === 0 && objs.length === 24 && objs.every((o) => o.result === 'ok'),
    `${kind}: republishing is ok (duplicate)`, r.out.slice(0, 3));

  const filter = JSON.stringify({ kinds: [1], authors: [key.pk] });
  r = await hearthRun(hearth, ['req', filter, ...relays, '--timeout', '10'], '', env);
  const evs = r.out.map((l) => JSON.parse(l));
  const ids = new Set(evs.map((e) => e.id));
  T.ok(r.code === 0, `${kind}: req exits 0`, r.err);
  T.ok(evs.length === 20 && ids.size === 20, `${kind}: each event printed once`,
    `${evs.length} lines, ${ids.size} ids`);
  T.ok(evs.every((e) => verifyEvent(e) && e.pubkey === key.pk),
    `${kind}: every printed event verifies (nostr-tools)`);
  T.ok(signed.every((e) => ids.has(e.id)), `${kind}: the signed events came back`);
  const back = new Map(evs.map((e) => [e.id, e]));
  T.ok(signed.every((e) => back.get(e.id)?.content === e.content),
    `${kind}: contents intact`);

  // bad lines are reported and do not stop the others
  const tampered = { ...makeEvent(key, { content: 'x' }), content: 'changed' };
  r = await hearthRun(hearth, ['publish', '--relay', a.url], [
    'not json', JSON.stringify(tampered),
    JSON.stringify(makeEvent(key, { content: 'fine' }))].join('\n'), env);
  T.ok(r.code === 1 && relayLines(r.out).length === 1 && relayLines(r.out)[0].result === 'ok',
    `${kind}: bad lines fail the run, good ones still go`, r);
  T.ok(/line 1: invalid/.test(r.err) && /line 2: invalid/.test(r.err),
    `${kind}: bad lines named on stderr`, r.err);

  // an unsigned event and no key
  r = await hearthRun(hearth, ['publish', '--relay', a.url], '{"kind":1,"content":"x"}\n', env);
  T.ok(r.code === 1 && /no key/.test(r.err), `${kind}: unsigned without key refused`, r.err);
}

async function unreachable(kind) {
  const a = await startRelay(kind, `${kind}-u`);
  const key = newKey();
  const dead = `ws://127.0.0.1:${await freePort()}`;
  const e = makeEvent(key, { content: 'reachable' });
  let r = await hearthRun(hearth, ['publish', '--relay', a.url, '--relay', dead,
    '--timeout', '3'], JSON.stringify(e), env);
  const lines = relayLines(r.out);
  T.ok(r.code === 1 && lines.length === 2, `${kind}: publish with a dead relay exits 1`, r);
  T.ok(lines.some((l) => l.relay === a.url && l.result === 'ok') &&
    lines.some((l) => l.relay === dead && l.result === 'failed' && /timed out/.test(l.msg)),
  `${kind}: dead relay failed, live relay ok`, r.out);
  const t0 = Date.now();
  r = await hearthRun(hearth, ['req', JSON.stringify({ ids: [e.id] }), '--relay', a.url,
    '--relay', dead, '--timeout', '20'], '', env);
  T.ok(r.code === 1 && r.out.length === 1 && JSON.parse(r.out[0]).id === e.id,
    `${kind}: req prints the live relay's event, exits 1`, r);
  T.ok(r.err.includes(dead) && /failed/.test(r.err), `${kind}: stderr names the dead relay`, r.err);
  T.ok(Date.now() - t0 < 10000, `${kind}: a refused connection does not wait for the timeout`);
}

// Knobs only the JS relay has: each answer prefix and its retry rule.
async function prefixes() {
  const log = join(dir, 'prefix.log');
  const a = await startRelay('js', 'p', ['--block-kind', '4444', '--rate-limit', '2',
    '--log', log]);
  const key = newKey();
  const blocked = makeEvent(key, { kind: 4444, content: 'no' });
  let r = await hearthRun(hearth, ['publish', '--relay', a.url], JSON.stringify(blocked), env);
  T.ok(r.code === 1 && /rejected: blocked: kind not accepted here$/.test(r.out[0] || ''),
    'blocked: reported as rejected', r);
  T.ok(eventsInLog(readFileSync(log, 'utf8'), blocked.id) === 1, 'blocked: sent once, not retried');

  const limited = makeEvent(key, { content: 'slow' });
  const t0 = Date.now();
  r = await hearthRun(hearth, ['publish', '--relay', a.url, '--timeout', '20'],
    JSON.stringify(limited), env);
  T.ok(r.code === 0 && / ok$/.test(r.out[0] || ''), 'rate-limited: retried until ok', r);
  T.ok(eventsInLog(readFileSync(log, 'utf8'), limited.id) === 3,
    'rate-limited: sent 3 times (2 refusals)', eventsInLog(readFileSync(log, 'utf8'), limited.id));
  T.ok(Date.now() - t0 >= 1000, 'rate-limited: retries waited (backoff)');

  const b = await startRelay('js', 'p2', ['--rate-limit', '100']);
  r = await hearthRun(hearth, ['publish', '--relay', b.url, '--timeout', '2.5'],
    JSON.stringify(makeEvent(key, { content: 'never' })), env);
  T.ok(r.code === 1 && /failed: timed out after \d attempts: rate-limited: slow down/.test(r.out[0] || ''),
    'rate-limited forever: fails at the overall timeout', r.out);
}

async function nip11Limits() {
  const log = join(dir, 'nip11.log');
  const a = await startRelay('js', 'n', ['--nip11',
    JSON.stringify({ max_message_length: 2000, min_pow_difficulty: 30 }), '--log', log]);
  const key = newKey();
  const big = makeEvent(key, { content: 'x'.repeat(5000) });
  const r = await hearthRun(hearth, ['publish', '--relay', a.url, '--json'],
    JSON.stringify(big), env);
  const o = r.out.length ? JSON.parse(r.out[0]) : {};
  T.ok(r.code === 1 && o.result === 'failed' && /max_message_length 2000/.test(o.message),
    'NIP-11 max_message_length: refused locally', r);
  const small = makeEvent(key, { content: 'small' });
  const r2 = await hearthRun(hearth, ['publish', '--relay', a.url], JSON.stringify(small), env);
  T.ok(r2.code === 1 && /failed: pow: difficulty \d+ is below the relay's min_pow_difficulty 30/
    .test(r2.out[0] || ''), 'NIP-11 min_pow_difficulty: refused locally', r2);
  T.ok(!existsSync(log) || eventsInLog(readFileSync(log, 'utf8')) === 0,
    'NIP-11: nothing was sent');
}

async function auth() {
  const log = join(dir, 'auth.log');
  const w = await startRelay('js', 'aw', ['--auth', 'write', '--log', log]);
  const key = newKey();
  const e = makeEvent(key, { content: 'authed' });
  let r = await hearthRun(hearth, ['publish', '--relay', w.url, '--key', key.hex],
    JSON.stringify(e), env);
  T.ok(r.code === 0 && / ok$/.test(r.out[0] || ''), 'NIP-42 write: ok after AUTH', r);
  T.ok(readFileSync(log, 'utf8').includes('["AUTH",'), 'NIP-42 write: AUTH was sent');
  r = await hearthRun(hearth, ['publish', '--relay', w.url],
    JSON.stringify(makeEvent(key, { content: 'anon' })), env);
  T.ok(r.code === 1 && /rejected: auth-required: sign in first$/.test(r.out[0] || ''),
    'NIP-42 write without a key: rejected auth-required', r);

  const rd = await startRelay('js', 'ar', ['--auth', 'read']);
  await hearthRun(hearth, ['publish', '--relay', rd.url], JSON.stringify(e), env);
  const f = JSON.stringify({ ids: [e.id] });
  r = await hearthRun(hearth, ['req', f, '--relay', rd.url, '--key', key.hex, '--timeout', '10'],
    '', env);
  T.ok(r.code === 0 && r.out.length === 1 && JSON.parse(r.out[0]).id === e.id,
    'NIP-42 read: events after AUTH', r);
  r = await hearthRun(hearth, ['req', f, '--relay', rd.url, '--timeout', '10'], '', env);
  T.ok(r.code === 1 && r.out.length === 0 && /closed: auth-required/.test(r.err),
    'NIP-42 read without a key: closed auth-required', r);
}

function makeCert() {
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=hearth test CA']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key',
    '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext.cnf']);
}

async function tls() {
  try {
    makeCert();
  } catch (e) {
    T.ok(false, `wss: openssl could not make a test certificate: ${e.message}`);
    return;
  }
  const s = await startRelay('js', 'tls', ['--tls', `${join(dir, 'srv.pem')},${join(dir, 'srv.key')}`]);
  T.ok(s.url.startsWith('wss://'), 'wss: relay up');
  const key = newKey();
  const e = makeEvent(key, { content: 'over tls' });
  let r = await hearthRun(hearth, ['publish', '--relay', s.url, '--ca-file',
    join(dir, 'ca.pem')], JSON.stringify(e), env);
  T.ok(r.code === 0 && / ok$/.test(r.out[0] || ''), 'wss: publish with the test CA', r);
  r = await hearthRun(hearth, ['req', JSON.stringify({ ids: [e.id] }), '--relay', s.url,
    '--ca-file', join(dir, 'ca.pem'), '--stats'], '', env);
  T.ok(r.code === 0 && r.out.length === 1, 'wss: req with the test CA', r);
  T.ok(/"nip11":true/.test(r.err), 'wss: NIP-11 fetched over https', r.err);
  r = await hearthRun(hearth, ['req', JSON.stringify({ ids: [e.id] }), '--relay', s.url,
    '--timeout', '5'], '', env);
  T.ok(r.code === 1 && r.out.length === 0, 'wss: an unknown CA is refused (system bundle)', r);
}

// A consumer slower than the relay: the pool holds at most --queue events
// per relay, pauses reading (lws rx flow control), and loses nothing.
async function slowConsumer(kind) {
  const a = await startRelay(kind, `${kind}-slow`, kind === 'hearth'
    ? ['--rate-conn', '0', '--rate-pubkey', '0', '--max-limit', '1000'] : []);
  const key = newKey();
  const evs = Array.from({ length: 600 }, (_, i) =>
    makeEvent(key, { content: `e${i}`, created_at: 1700000000 + i }));
  const oks = await publishDirect(a.url, evs, 30000);
  T.ok([...oks.values()].every((x) => x === true), `${kind}: 600 events stored`);
  const r = await hearthRun(hearth, ['req', JSON.stringify({ authors: [key.pk], limit: 1000 }),
    '--relay', a.url, '--pace', '250', '--queue', '16', '--stats', '--timeout', '30'], '', env);
  const ids = new Set(r.out.map((l) => JSON.parse(l).id));
  T.ok(r.code === 0 && r.out.length === 600 && ids.size === 600,
    `${kind}: slow consumer gets all 600 events once`, `${r.out.length} lines`);
  const st = JSON.parse(r.err.split('\n').find((l) => l.startsWith('[{')) || '[{}]')[0];
  T.ok(st.paused >= 1 && st.queued_max >= 16 && st.queued_max <= 32,
    `${kind}: reading paused, queue stayed bounded`, st);
  // a queue big enough for the whole backlog: EOSE arrives while events
  // still wait, and "all EOSE" must not end the command before them
  const r2 = await hearthRun(hearth, ['req', JSON.stringify({ authors: [key.pk], limit: 1000 }),
    '--relay', a.url, '--pace', '400', '--timeout', '30'], '', env);
  T.ok(r2.code === 0 && r2.out.length === 600,
    `${kind}: all EOSE waits for the queued events`, `${r2.out.length} lines`);
}

// @nostr-relay/core 0.0.40 matches live events without their "#x"
// conditions; the pool must not let such events through.
async function liveTagFilter() {
  const a = await startRelay('js', 'tags');
  const key = newKey();
  const c = hearthSpawn(hearth, ['req', JSON.stringify({ kinds: [1], '#t': ['wanted'] }),
    '--relay', a.url, '--stream', '--timeout', '20', '--stats'], env);
  T.defer(() => c.kill('SIGKILL'));
  await sleep(1000);
  const other = makeEvent(key, { content: 'other', tags: [['t', 'other']] });
  const wanted = makeEvent(key, { content: 'wanted', tags: [['t', 'wanted']] });
  await publishDirect(a.url, [other, wanted]);
  await c.waitFor((l) => l.length >= 1, 10000, 'the wanted event');
  await sleep(500);
  await c.kill('SIGTERM');
  T.ok(c.lines.length === 1 && JSON.parse(c.lines[0]).id === wanted.id,
    'js relay live events: only the matching one printed', c.lines);
  const st = JSON.parse(c.stderr.split('\n').find((l) => l.startsWith('[{')) || '[{}]')[0];
  T.ok(st.unmatched === 1 && st.drops === 0, 'js relay live events: counted unmatched, not dropped', st);
}

// NIP-65: reading an author's outbox, sending to a user's inbox.
async function outbox() {
  const d = await startRelay('js', 'disc');
  const w1 = await startRelay('js', 'w1');
  const w2 = await startRelay('hearth', 'w2');
  const r1 = await startRelay('js', 'r1');
  const alice = newKey(), bob = newKey();
  await publishDirect(d.url, [makeEvent(alice, { kind: 10002, tags: [
    ['r', w1.url + '/', 'write'], ['r', w2.url], ['r', r1.url, 'read']] })]);
  await publishDirect(w1.url, [0, 1, 2].map((i) => makeEvent(alice, { content: `w1 ${i}` })));
  await publishDirect(w2.url, [0, 1].map((i) => makeEvent(alice, { content: `w2 ${i}` })));
  let r = await hearthRun(hearth, ['req', JSON.stringify({ kinds: [1], authors: [alice.pk] }),
    '--relay', d.url, '--outbox', alice.pk, '--timeout', '15'], '', env);
  T.ok(r.code === 0 && r.out.length === 5, 'outbox: the author\'s notes from its write relays', r);
  T.ok(/outbox of [0-9a-f]{64}: 2 relays \(2 new\)/.test(r.err), 'outbox: two write relays found', r.err);

  const note = makeEvent(bob, { content: 'hi alice', tags: [['p', alice.pk]] });
  r = await hearthRun(hearth, ['publish', '--relay', d.url, '--to-inbox', alice.pk],
    JSON.stringify(note), env);
  const lines = relayLines(r.out);
  T.ok(r.code === 0 && lines.length === 3 && lines.every((l) => l.result === 'ok'),
    'inbox: sent to the --relay and the two read relays', r);
  T.ok(new Set(lines.map((l) => l.relay)).size === 3 &&
    [d.url, w2.url, r1.url].every((u) => lines.some((l) => l.relay === u)),
  'inbox: exactly the read relays (not the write-only one)', lines.map((l) => l.relay));

  r = await hearthRun(hearth, ['publish', '--relay', d.url, '--to-inbox', bob.pk],
    JSON.stringify(makeEvent(alice, { content: 'hi bob' })), env);
  T.ok(r.code === 1 && relayLines(r.out).length === 1 && /no inbox relays/.test(r.err),
    'inbox: no relay list -> warning, --relay only, exit 1', r);
}

await T.step('round trip, js relay', () => roundTrip('js'));
await T.step('round trip, hearth relay', () => roundTrip('hearth'));
await T.step('unreachable relay, js', () => unreachable('js'));
await T.step('unreachable relay, hearth', () => unreachable('hearth'));
await T.step('slow consumer, js', () => slowConsumer('js'));
await T.step('slow consumer, hearth', () => slowConsumer('hearth'));
await T.step('live events checked against tag filters', liveTagFilter);
await T.step('OK prefixes and retries', prefixes);
await T.step('NIP-11 limits', nip11Limits);
await T.step('NIP-42', auth);
await T.step('wss://', tls);
await T.step('NIP-65 outbox and inbox', outbox);
await T.finish();
