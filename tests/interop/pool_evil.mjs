// A misbehaving relay (evil_relay.mjs) next to an honest one (the npm
// relay): whatever the evil relay sends, `hearth req` prints exactly the
// honest relay's events, reports the evil relay dropped for misbehaviour
// (with the matching counter in --stats), and keeps working with the
// honest relay.
//
// usage: node pool_evil.mjs PATH/TO/hearth
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyEvent } from 'nostr-tools/pure';
import { hearthFromArgv } from './common.mjs';
import { Checks, cleanupDir, hearthRun, hearthSpawn, makeEvent, newKey, noKeyEnv,
  publishDirect, startEvilRelay, startJsRelay, tmpDir } from './pool_common.mjs';

const hearth = hearthFromArgv();
const T = new Checks('interop-pool-evil');
const dir = tmpDir('pool-evil');
T.defer(cleanupDir(dir));
const env = noKeyEnv(dir);

const honest = await startJsRelay();
T.defer(() => honest.kill());
const key = newKey();
const TAG = 'pool-evil';
const goodEvents = Array.from({ length: 10 }, (_, i) =>
  makeEvent(key, { content: `honest ${i}`, tags: [['t', TAG]] }));
await publishDirect(honest.url, goodEvents);
const goodFile = join(dir, 'good.jsonl');
writeFileSync(goodFile, goodEvents.map((e) => JSON.stringify(e)).join('\n') + '\n');
const filter = JSON.stringify({ kinds: [1], '#t': [TAG] });
const goodIds = new Set(goodEvents.map((e) => e.id));

function statsOf(err, url) {
  const line = err.split('\n').reverse().find((l) => l.startsWith('[{'));
  return line ? JSON.parse(line).find((s) => s.url === url) : undefined;
}

// counter in --stats that must have moved for each kind of abuse
const COUNTER = { badsig: 'bad_sig', badid: 'bad_id', garbage: 'bad_json',
  huge: 'oversized', unmatched: 'unmatched', wrongsub: 'unknown_sub', flood: 'floods' };

async function isolate(mode) {
  const evil = await startEvilRelay(['--mode', mode]);
  T.defer(() => evil.kill());
  const r = await hearthRun(hearth, ['req', filter, '--relay', evil.url, '--relay',
    honest.url, '--stats', '--timeout', '20'], '', env, 40000);
  const evs = r.out.map((l) => JSON.parse(l));
  T.ok(evs.length === goodIds.size && evs.every((e) => goodIds.has(e.id) && verifyEvent(e)),
    `${mode}: exactly the honest events printed`, r.out.slice(0, 3));
  T.ok(r.code === 1, `${mode}: exit 1`, r.code);
  T.ok(r.err.includes(`relay ${evil.url}: dropped for misbehaviour`),
    `${mode}: evil relay reported dropped`, r.err.slice(0, 2000));
  const se = statsOf(r.err, evil.url), sh = statsOf(r.err, honest.url);
  T.ok(se && se.drops >= 1 && se.state === 'cooling' && se.cooling_ms > 0,
    `${mode}: stats show the drop and cooling-off`, se);
  T.ok(se && se[COUNTER[mode]] > 0, `${mode}: stats count ${COUNTER[mode]}`, se);
  T.ok(sh && sh.drops === 0 && sh.score === 0 && sh.events_delivered >= 0,
    `${mode}: honest relay untouched`, sh);
  await evil.kill();
}

async function forge() {
  const evil = await startEvilRelay(['--mode', 'forge', '--good', goodFile]);
  T.defer(() => evil.kill());
  for (const order of [[evil.url, honest.url], [honest.url, evil.url]]) {
    const r = await hearthRun(hearth, ['req', filter, '--relay', order[0], '--relay',
      order[1], '--timeout', '20'], '', env, 40000);
    const evs = r.out.map((l) => JSON.parse(l));
    const byId = new Map(goodEvents.map((e) => [e.id, e]));
    T.ok(evs.length === goodIds.size && evs.every((e) => verifyEvent(e) &&
      byId.get(e.id)?.content === e.content && byId.get(e.id)?.created_at === e.created_at),
    'forge: forged copies never shadow the real events', r.out.slice(0, 3));
  }
  await evil.kill();
}

async function honestControl() {
  const evil = await startEvilRelay(['--mode', 'honest']);
  T.defer(() => evil.kill());
  const r = await hearthRun(hearth, ['req', filter, '--relay', evil.url, '--relay',
    honest.url, '--timeout', '20'], '', env);
  T.ok(r.code === 0 && r.out.length === goodIds.size + 5,
    'control: a well-behaved extra relay is not dropped', r);
  await evil.kill();
}

// --stream: after the drop, new events from the honest relay still arrive
async function keepsWorking() {
  const evil = await startEvilRelay(['--mode', 'badsig']);
  T.defer(() => evil.kill());
  const c = hearthSpawn(hearth, ['req', filter, '--relay', evil.url, '--relay', honest.url,
    '--stream', '--timeout', '30', '--stats'], env);
  T.defer(() => c.kill('SIGKILL'));
  await c.waitFor((l) => l.length >= goodIds.size, 15000, 'stored events');
  await new Promise((r) => setTimeout(r, 500));
  const more = Array.from({ length: 3 }, (_, i) =>
    makeEvent(key, { content: `live ${i}`, tags: [['t', TAG]] }));
  await publishDirect(honest.url, more);
  await c.waitFor((l) => l.length >= goodIds.size + 3, 15000, 'live events');
  await c.kill('SIGTERM');
  const ids = c.lines.map((l) => JSON.parse(l).id);
  T.ok(ids.length === goodIds.size + 3 && new Set(ids).size === ids.length &&
    more.every((e) => ids.includes(e.id)), 'stream: honest relay keeps working after the drop',
  ids.length);
  T.ok(c.code === 1 && c.stderr.includes('dropped for misbehaviour'),
    'stream: the drop is reported at exit', c.stderr.slice(0, 1500));
  await evil.kill();
}

for (const mode of Object.keys(COUNTER))
  await T.step(`isolate ${mode}`, () => isolate(mode));
await T.step('forged copies of real events', forge);
await T.step('well-behaved extra relay', honestControl);
await T.step('stream keeps working', keepsWorking);
await T.finish();
