// Durability of `hearth relay`: publish a burst of thousands of events over
// several connections at once, kill -9 the relay in the middle of it,
// restart it on the same data dir, and check that every event it had
// acknowledged with OK true is there.
//
// usage: node relay_crash.mjs PATH/TO/hearth [events] [rounds]
import { bytesToHex } from '@noble/hashes/utils.js';
import { Report, hearthFromArgv, runHearth, splitLines } from './common.mjs';
import { RawClient, cleanup, newKey, now, startRelay, tempDir } from './relay_common.mjs';
import { join } from 'node:path';

const hearth = hearthFromArgv();
const EVENTS = Number(process.argv[3] || 6000);
const ROUNDS = Number(process.argv[4] || 3);
const CONNS = 8;
const rep = new Report('interop-relay_crash', 0);
const NOLIMIT = ['--rate-conn', '0', '--rate-pubkey', '0'];

// hearth signs them (much faster than JS), 16 authors
function signEvents(n, tag) {
  const out = [];
  const keys = Array.from({ length: 16 }, newKey);
  for (const [ki, k] of keys.entries()) {
    const lines = [];
    for (let i = ki; i < n; i += keys.length)
      lines.push(JSON.stringify({ kind: 1, created_at: now(), tags: [['t', tag]],
        content: `crash test ${tag} ${i} `.padEnd(300, '.') }));
    const res = runHearth(hearth, ['event', 'sign', '--key', bytesToHex(k.sk)], lines.join('\n'));
    for (const l of splitLines(res.stdout))
      out.push(JSON.parse(l));
  }
  return out;
}

async function round(r, dir) {
  const data = join(dir, 'db');
  const evs = signEvents(EVENTS, `r${r}`);
  let relay = await startRelay(hearth, NOLIMIT, { data });
  const conns = await Promise.all(Array.from({ length: CONNS }, () => RawClient.open(relay.url)));
  const acked = new Set();
  const killAt = Math.floor(EVENTS * (0.2 + 0.2 * r)); // somewhere mid-burst
  let killed = false;
  const dead = new Promise((resolve) => {
    for (const c of conns)
      c.ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        if (m[0] === 'OK' && m[2] === true)
          acked.add(m[1]);
        if (!killed && acked.size >= killAt) {
          killed = true;
          relay.proc.kill('SIGKILL');
          resolve();
        }
      });
  });
  evs.forEach((e, i) => conns[i % CONNS].send(['EVENT', e]));
  await Promise.race([dead, relay.exited]);
  await relay.exited;
  const ackedAtKill = acked.size; // OKs already in flight count too: they were sent
  conns.forEach((c) => c.close());

  relay = await startRelay(hearth, [...NOLIMIT, '--max-limit', '1000'], { data });
  const c = await RawClient.open(relay.url);
  const ids = [...acked];
  let missing = 0;
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    const q = await c.req(`chk${i}`, { ids: chunk });
    const have = new Set(q.events.map((e) => e.id));
    missing += chunk.filter((id) => !have.has(id)).length;
    c.send(['CLOSE', `chk${i}`]);
  }
  c.send(['COUNT', 'all', { '#t': [`r${r}`] }]);
  const stored = (await c.wait((m) => m[0] === 'COUNT' && m[1] === 'all'))[2].count;
  rep.ok(missing === 0, `round ${r}: every acknowledged event survived kill -9`,
    `${missing} of ${ids.length} missing`);
  rep.ok(stored >= ids.length && stored <= EVENTS, `round ${r}: stored count is sane`,
    { stored, acked: ids.length });
  // the store still takes writes after the crash
  const fresh = signEvents(1, `r${r}-after`)[0];
  const ok = await c.publish(fresh);
  rep.ok(ok[2] === true, `round ${r}: publishing works after restart`, ok);
  c.close();
  const { code } = await relay.stop();
  rep.ok(code === 0, `round ${r}: clean exit`, relay.stderr());
  return { acked: ackedAtKill, stored };
}

const dir = tempDir();
const summary = [];
try {
  for (let r = 0; r < ROUNDS; r++) {
    const s = await round(r, dir);
    summary.push(`${s.acked}/${EVENTS} acked, ${s.stored} stored`);
  }
} catch (e) {
  rep.ok(false, 'exception: ' + e.stack);
}
cleanup(dir);
rep.finish(`${ROUNDS} rounds on one data dir, ${CONNS} connections: ${summary.join('; ')}`);
