// Relay restarts under the pool, against the npm relay (js_relay.mjs with
// a persistent --db) and `hearth relay`:
//   A  `hearth req --stream` survives a relay kill and restart: the
//      subscription is resumed (with `since`, checked in the JS relay's
//      log), and every event published while hearth was away (some
//      backdated) arrives exactly once, as do later live events; counted.
//   B  `hearth publish` started while the relay is down delivers once it
//      comes up (reconnect with backoff, resend).
//   C  a publish stream whose relay dies in the middle: the events queued
//      meanwhile are sent after the restart.
//
// usage: node pool_reconnect.mjs PATH/TO/hearth
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hearthFromArgv } from './common.mjs';
import { Checks, cleanupDir, freePort, hearthRun, hearthSpawn, makeEvent, newKey,
  noKeyEnv, publishDirect, reqsInLog, sleep, startHearthRelay, startJsRelay,
  tmpDir } from './pool_common.mjs';

const hearth = hearthFromArgv();
const T = new Checks('interop-pool-reconnect');
const dir = tmpDir('pool-reconnect');
T.defer(cleanupDir(dir));
const env = noKeyEnv(dir);
const counts = [];

function relayStarter(kind, tag) {
  const db = join(dir, `${tag}.db`);
  const log = join(dir, `${tag}.log`);
  return {
    log: kind === 'js' ? log : null,
    start: (port) => (kind === 'js'
      ? startJsRelay(['--port', String(port), '--db', db, '--log', log])
      : startHearthRelay(hearth, db, port)),
  };
}

async function resume(kind) {
  const rs = relayStarter(kind, `${kind}-resume`);
  const port = await freePort();
  let relay = await rs.start(port);
  T.defer(() => relay.kill());
  const key = newKey();
  const now = () => Math.floor(Date.now() / 1000);
  const before = Array.from({ length: 5 }, (_, i) => makeEvent(key, { content: `before ${i}` }));
  await publishDirect(relay.url, before);

  const c = hearthSpawn(hearth, ['req', JSON.stringify({ kinds: [1], authors: [key.pk] }),
    '--relay', relay.url, '--stream', '--timeout', '90', '--stats'], env);
  T.defer(() => c.kill('SIGKILL'));
  await c.waitFor((l) => l.length >= 5, 15000, 'stored events');
  await sleep(300);

  await relay.kill('SIGKILL');
  await sleep(1500);
  relay = await rs.start(port);
  // published while hearth is still away (it retries with backoff):
  // some backdated a little, as clocks of other authors may be
  const during = [
    ...Array.from({ length: 7 }, (_, i) => makeEvent(key, { content: `during ${i}` })),
    ...Array.from({ length: 3 }, (_, i) =>
      makeEvent(key, { content: `backdated ${i}`, created_at: now() - 30 - i })),
  ];
  await publishDirect(relay.url, during);
  await c.waitFor((l) => l.length >= 15, 30000, 'events published during the outage');

  const after = Array.from({ length: 5 }, (_, i) => makeEvent(key, { content: `after ${i}` }));
  await publishDirect(relay.url, after);
  await c.waitFor((l) => l.length >= 20, 15000, 'live events after the restart');
  await sleep(500); // room for any duplicate to show up
  await c.kill('SIGTERM');

  const ids = c.lines.map((l) => JSON.parse(l).id);
  const want = [...before, ...during, ...after].map((e) => e.id);
  T.ok(ids.length === 20 && new Set(ids).size === 20 && want.every((id) => ids.includes(id)),
    `${kind}: 20 events, each exactly once, across the restart`,
    `${ids.length} lines, ${new Set(ids).size} unique`);
  T.ok(c.code === 0, `${kind}: --stream exits 0 on SIGTERM`, c.stderr.slice(0, 1500));
  const st = JSON.parse(c.stderr.split('\n').find((l) => l.startsWith('[{')) || '[{}]')[0];
  T.ok(st.connects >= 2 && st.disconnects >= 1, `${kind}: stats show the reconnect`, st);
  counts.push(`${kind}: ${ids.length} events, ${st.connects} connects`);
  if (rs.log) {
    const reqs = reqsInLog(readFileSync(rs.log, 'utf8'));
    const last = reqs[reqs.length - 1];
    T.ok(reqs.length >= 2 && last[1].since !== undefined &&
      last[1].since <= Math.min(...during.map((e) => e.created_at)) &&
      last[1].since >= before[0].created_at - 120,
    `${kind}: resumed REQ carries since (newest seen - margin)`, reqs);
  }
  await relay.kill();
}

async function publishWhileDown(kind) {
  const rs = relayStarter(kind, `${kind}-down`);
  const port = await freePort();
  const key = newKey();
  const evs = Array.from({ length: 3 }, (_, i) => makeEvent(key, { content: `late ${i}` }));
  const url = `ws://127.0.0.1:${port}`;
  const run = hearthRun(hearth, ['publish', '--relay', url, '--timeout', '30'],
    evs.map((e) => JSON.stringify(e)).join('\n') + '\n', env);
  await sleep(2000);
  const relay = await rs.start(port);
  T.defer(() => relay.kill());
  const r = await run;
  T.ok(r.code === 0 && r.out.length === 3 && r.out.every((l) => / ok$/.test(l)),
    `${kind}: publish started while the relay was down gets through`, r);
  const q = await hearthRun(hearth, ['req', JSON.stringify({ authors: [key.pk] }),
    '--relay', url], '', env);
  T.ok(q.code === 0 && q.out.length === 3, `${kind}: the relay has them`, q);
  await relay.kill();
}

async function publishAcrossRestart(kind) {
  const rs = relayStarter(kind, `${kind}-mid`);
  const port = await freePort();
  let relay = await rs.start(port);
  T.defer(() => relay.kill());
  const key = newKey();
  const c = hearthSpawn(hearth, ['publish', '--relay', relay.url, '--timeout', '40'], env);
  T.defer(() => c.kill('SIGKILL'));
  const first = Array.from({ length: 5 }, (_, i) => makeEvent(key, { content: `first ${i}` }));
  c.p.stdin.write(first.map((e) => JSON.stringify(e)).join('\n') + '\n');
  await c.waitFor((l) => l.length >= 5, 15000, 'first OKs');
  await relay.kill('SIGKILL');
  const second = Array.from({ length: 5 }, (_, i) => makeEvent(key, { content: `second ${i}` }));
  c.p.stdin.write(second.map((e) => JSON.stringify(e)).join('\n') + '\n');
  await sleep(1500);
  relay = await rs.start(port);
  c.p.stdin.end();
  await c.exited;
  T.ok(c.code === 0 && c.lines.length === 10 && c.lines.every((l) => / ok$/.test(l)),
    `${kind}: events queued while the relay was down are sent after the restart`,
    { code: c.code, lines: c.lines, err: c.stderr.slice(0, 1000) });
  await relay.kill();
}

for (const kind of ['js', 'hearth']) {
  await T.step(`resume subscription, ${kind}`, () => resume(kind));
  await T.step(`publish while down, ${kind}`, () => publishWhileDown(kind));
  await T.step(`publish across a restart, ${kind}`, () => publishAcrossRestart(kind));
}
await T.finish(counts.join('; '));
