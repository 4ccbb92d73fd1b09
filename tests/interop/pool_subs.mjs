// Pool behaviour the command line cannot show, through pool_driver.c:
//   - more subscriptions than the relay's NIP-11 max_subscriptions: the
//     extra REQs wait for a free slot (never more open than allowed, read
//     from the JS relay's log) and all finish; the same against
//     `hearth relay --max-subs 2`, which would refuse a third.
//   - hearth_pool_free with connections that hang (a TCP blackhole), fail
//     (a closed port) or work returns at once; `hearth req --stream` on a
//     blackhole stops promptly on SIGTERM.
//
// usage: node pool_subs.mjs PATH/TO/hearth PATH/TO/pool_driver
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { hearthFromArgv } from './common.mjs';
import { Checks, cleanupDir, freePort, hearthRun, hearthSpawn, makeEvent, newKey,
  noKeyEnv, publishDirect, sleep, startHearthRelay, startJsRelay,
  tmpDir } from './pool_common.mjs';

const hearth = hearthFromArgv();
const driver = process.argv[3];
const T = new Checks('interop-pool-subs');
if (!driver || !existsSync(driver)) {
  T.ok(false, `pool_driver not found: ${driver}`);
  await T.finish();
}
const dir = tmpDir('pool-subs');
T.defer(cleanupDir(dir));
const env = noKeyEnv(dir);
const N = 6;

async function fill(url) {
  const key = newKey();
  const evs = [];
  for (let i = 0; i < N; i++)
    for (let j = 0; j < 2; j++)
      evs.push(makeEvent(key, { content: `s${i} e${j}`, tags: [['t', `sub${i}`]] }));
  await publishDirect(url, evs);
}

function maxOpen(logText) {
  let open = 0, max = 0, reqs = 0;
  for (const l of logText.split('\n')) {
    if (l.startsWith('["REQ"')) {
      reqs++;
      max = Math.max(max, ++open);
    } else if (l.startsWith('["CLOSE"')) {
      open--;
    }
  }
  return { max, reqs };
}

function checkDriver(r, what) {
  const lines = r.out.filter((l) => l.startsWith('eose '));
  T.ok(r.code === 0 && lines.length === N, `${what}: all ${N} subscriptions finished`, r);
  T.ok(lines.every((l) => l.endsWith(' 2')), `${what}: each got its 2 events`, lines);
}

async function queuedSubs() {
  const log = join(dir, 'subs.log');
  const js = await startJsRelay(['--nip11', JSON.stringify({ max_subscriptions: 2 }),
    '--log', log]);
  T.defer(() => js.kill());
  await fill(js.url);
  let r = await hearthRun(driver, ['subs', js.url, String(N)], '', env, 30000);
  checkDriver(r, 'js relay, max_subscriptions 2');
  const { max, reqs } = maxOpen(readFileSync(log, 'utf8'));
  T.ok(reqs === N && max <= 2, 'js relay: never more than 2 REQs open', { max, reqs });

  const hr = await startHearthRelay(hearth, join(dir, 'hr'), 0, ['--max-subs', '2']);
  T.defer(() => hr.kill());
  await fill(hr.url);
  r = await hearthRun(driver, ['subs', hr.url, String(N)], '', env, 30000);
  checkDriver(r, 'hearth relay --max-subs 2');
}

async function shutdown() {
  const sockets = [];
  const hole = createServer((s) => { sockets.push(s); s.on('error', () => {}); });
  await new Promise((r) => hole.listen(0, '127.0.0.1', r));
  T.defer(() => { sockets.forEach((s) => s.destroy()); hole.close(); });
  const holeUrl = `ws://127.0.0.1:${hole.address().port}`;
  const dead = `ws://127.0.0.1:${await freePort()}`;
  const live = await startJsRelay();
  T.defer(() => live.kill());
  const t0 = Date.now();
  const r = await hearthRun(driver, ['shutdown', holeUrl, dead, live.url], '', env, 20000);
  const m = /free_ms (\d+)/.exec(r.out.join('\n'));
  T.ok(r.code === 0 && m && Number(m[1]) < 500, 'hearth_pool_free returns at once', r);
  T.ok(Date.now() - t0 < 6000, 'driver done in bounded time', Date.now() - t0);

  const c = hearthSpawn(hearth, ['req', '{"kinds":[1]}', '--relay', holeUrl, '--stream'], env);
  T.defer(() => c.kill('SIGKILL'));
  await sleep(1000);
  const t1 = Date.now();
  await c.kill('SIGTERM');
  T.ok(Date.now() - t1 < 2000 && c.code !== null,
    '`hearth req --stream` on a hanging relay stops promptly on SIGTERM', Date.now() - t1);
}

await T.step('queued subscriptions', queuedSubs);
await T.step('bounded shutdown', shutdown);
await T.finish();
