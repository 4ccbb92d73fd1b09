// The market view follows the relays, and offers are kept alive:
// `hearth offer publish --keep` (refresh, SIGHUP, NIP-09 deletion on
// SIGTERM, bounded shutdown) and `hearth market sync` (stored, replaced,
// deleted, expired, rejected with reasons) against `hearth relay
// --discovery`, checked with `hearth peers` and `hearth req`.
//
//   node market_sync.mjs path/to/hearth
import {
  Checks, cleanupDir, freePort, hearthSpawn, newKey, noKeyEnv, sleep,
  startHearthRelay, tmpDir,
} from './pool_common.mjs';
import { join } from 'node:path';

const hearth = process.argv[2];
if (!hearth) {
  console.error('usage: node market_sync.mjs path/to/hearth');
  process.exit(2);
}

const t = new Checks('market_sync');
const base = tmpDir('market');
t.defer(cleanupDir(base));
const env = noKeyEnv(base);
// whatever goes wrong, the relays and providers started here are stopped
process.on('uncaughtException', async (e) => {
  t.ok(false, `uncaught: ${e.stack || e}`);
  await t.finish();
});
const now = () => Math.floor(Date.now() / 1000);

// hearth to completion, { code, out: [lines], err }; a command that exits
// before reading its stdin must not crash the test with EPIPE
async function hearthRun(bin, args, input = '', extraEnv = {}, ms = 60000) {
  const c = hearthSpawn(bin, args, extraEnv);
  c.p.stdin.on('error', () => {});
  c.p.stdin.end(input);
  const timer = setTimeout(() => c.kill('SIGKILL'), ms);
  await c.exited;
  clearTimeout(timer);
  return { code: c.code, out: c.lines, err: c.stderr };
}

async function relay(name, args = ['--discovery']) {
  const r = await startHearthRelay(hearth, join(base, name), await freePort(), args);
  t.defer(() => r.kill('SIGKILL'));
  return r;
}

// a provider running `offer publish --keep`; resolves once every offer
// got its first OK
async function provider(url, key, extra = [], nok = 1) {
  const p = hearthSpawn(hearth, ['offer', 'publish', '--keep', '--relay', url,
    '--key', key.hex, '--no-detect', ...extra], env);
  t.defer(() => p.kill('SIGKILL'));
  await p.waitFor((l) => oks(l) >= nok, 15000, 'first offer OK');
  return p;
}

const oks = (lines) => lines.filter((l) => l.startsWith('31907:') && l.endsWith(' ok')).length;

async function sync(url, dir, extra = []) {
  const r = await hearthRun(hearth, ['market', 'sync', '--relay', url, '--data', dir,
    '--json', ...extra], '', env);
  let counts = null;
  try {
    counts = JSON.parse(r.out.join('\n'));
  } catch {
    // counts stays null: the checks below say so
  }
  return { ...r, counts };
}

async function peers(dir, kind = 5970) {
  const r = await hearthRun(hearth, ['peers', '--json', '--data', dir, '--kind',
    String(kind), '--limit', '50'], '', env);
  try {
    return JSON.parse(r.out.join('\n')).candidates.map((c) => c.pubkey);
  } catch {
    return { code: r.code, err: r.err };
  }
}

async function req(url, filter) {
  const r = await hearthRun(hearth, ['req', JSON.stringify(filter), '--relay', url], '', env);
  return r.out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

// an offer as `hearth offer show` builds it, changed by fix, signed and
// sent with `hearth publish`
async function rawOffer(url, key, showArgs, fix) {
  const shown = await hearthRun(hearth, ['offer', 'show', '--json', '--no-detect',
    ...showArgs], '', env);
  const ev = JSON.parse(shown.out.find((l) => l.startsWith('{')));
  fix(ev);
  const r = await hearthRun(hearth, ['publish', '--relay', url, '--key', key.hex],
    JSON.stringify(ev) + '\n', env);
  return { r, ev };
}

const r1 = await relay('r1');
const url = r1.url;
const A = newKey();
const B = newKey();
let pa;
let pb;

await t.step('two providers keep offers; a sync fills the view; peers ranks both', async () => {
  pa = await provider(url, A, ['--refresh', '2', '--ttl', '600', '--price-job', '10']);
  pb = await provider(url, B, ['--refresh', '2', '--ttl', '600', '--price-job', '20']);
  t.ok(pa.stderr.includes('keeping 1 offers alive'), 'the keeper says what it does', pa.stderr);
  const dir = join(base, 'view1');
  const s = await sync(url, dir);
  t.ok(s.code === 0, 'market sync exits 0', s.err);
  // (a refresh may slip in live before EOSE: then it replaces one)
  t.ok(s.counts && s.counts.stored >= 2 && s.counts.caught_up === true &&
    s.counts.offers === 2 && s.counts.rejected === 0, 'two offers stored', s.counts);
  const pk = await peers(dir);
  t.ok(Array.isArray(pk) && pk.includes(A.pk) && pk.includes(B.pk) && pk.length === 2,
    'hearth peers shows both providers', pk);
  // the same relays again: nothing new, the view keeps both
  const again = await sync(url, dir);
  t.ok(again.counts && again.counts.offers === 2 && again.counts.rejected === 0 &&
    again.counts.stored + again.counts.duplicate >= 2,
    'a second sync stores only newer versions', again.counts);
});

await t.step('offers are refreshed with a newer created_at', async () => {
  const first = await req(url, { kinds: [31907], authors: [B.pk] });
  await pb.waitFor((l) => oks(l) >= 3, 10000, 'two refreshes');
  const later = await req(url, { kinds: [31907], authors: [B.pk] });
  t.ok(first.length === 1 && later.length === 1 && later[0].created_at > first[0].created_at,
    'the relay holds one offer, refreshed', { first, later });
  const exp = Number(later[0].tags.find((x) => x[0] === 'expiration')[1]);
  t.ok(exp === later[0].created_at + 600, 'expiration is created_at + --ttl', later[0].tags);
});

await t.step('sync --follow sees refreshes live and prints counts on SIGINT', async () => {
  const dir = join(base, 'view-follow');
  const f = hearthSpawn(hearth, ['market', 'sync', '--follow', '--relay', url, '--data', dir,
    '--json'], env);
  t.defer(() => f.kill('SIGKILL'));
  const start = Date.now();
  while (!f.stderr.includes('caught up') && Date.now() - start < 10000)
    await sleep(100);
  t.ok(f.stderr.includes('caught up'), 'follow says it caught up', f.stderr);
  await sleep(4500); // two refreshes of each provider
  f.kill('SIGINT');
  await f.exited;
  let c = null;
  try {
    c = JSON.parse(f.lines.join('\n'));
  } catch { /* checked below */ }
  t.ok(f.code === 0, 'follow exits 0 on SIGINT', f.stderr);
  t.ok(c && c.offers === 2 && c.replaced >= 2 && c.stored >= 4,
    'refreshed offers replaced the older ones in the view', c);
});

await t.step('SIGHUP publishes again at once', async () => {
  const C = newKey();
  const pc = await provider(url, C, ['--refresh', '600', '--kind', '5100', '--backend', 'openai',
    '--model', 'llama3', '--price-mtok-out', '3000']);
  await sleep(1100); // a new second: the refresh gets a newer created_at
  const t0 = Date.now();
  process.kill(pc.p.pid, 'SIGHUP');
  await pc.waitFor((l) => oks(l) >= 2, 5000, 'republished offer');
  t.ok(Date.now() - t0 < 3000 && pc.stderr.includes('SIGHUP'), 'republished on SIGHUP',
    pc.stderr);
  pc.kill('SIGTERM');
  t.ok(await pc.exited === 0, 'and withdrawn on SIGTERM', pc.stderr);
});

await t.step('SIGTERM withdraws the offer: deletion on the relay, gone from the view', async () => {
  const dir = join(base, 'view1');
  const t0 = Date.now();
  pa.kill('SIGTERM');
  const code = await pa.exited;
  const took = Date.now() - t0;
  t.ok(code === 0 && took < 5000, `provider exits 0 once the deletion is in (${took} ms)`,
    pa.stderr);
  const del = pa.lines.find((l) => l.startsWith('5:deletion ') && l.endsWith(' ok'));
  t.ok(del !== undefined, 'the deletion got its OK', pa.lines.slice(-3));
  const dels = await req(url, { kinds: [5], authors: [A.pk], '#k': ['31907'] });
  const a = `31907:${A.pk}:5970:pow`;
  t.ok(dels.length === 1 && dels[0].tags.some((x) => x[0] === 'a' && x[1] === a) &&
    dels[0].tags.some((x) => x[0] === 'k' && x[1] === '31907'),
  'the relay holds the NIP-09 deletion with a and k tags', dels);
  const left = await req(url, { kinds: [31907], authors: [A.pk] });
  t.ok(left.length === 0, 'the relay no longer serves the offer', left);
  const s = await sync(url, dir);
  t.ok(s.code === 0 && s.counts && s.counts.deletions >= 1 && s.counts.deleted === 1 &&
    s.counts.offers === 1, 'the next sync applies the deletion', s.counts);
  const pk = await peers(dir);
  t.ok(Array.isArray(pk) && pk.length === 1 && pk[0] === B.pk, 'only B is left in peers', pk);
  // a fresh view learns of the deletion too, and keeps nothing of A
  const fresh = await sync(url, join(base, 'view-fresh'));
  t.ok(fresh.counts && fresh.counts.offers === 1 && fresh.counts.deletions >= 1,
    'a fresh view gets the deletion and only B', fresh.counts);
});

await t.step('an offer that expires is purged from the view', async () => {
  const dir = join(base, 'view-exp');
  const E = newKey();
  const exp = now() + 5;
  const { r } = await rawOffer(url, E, ['--kind', '5100', '--backend', 'openai',
    '--price-job', '1'], (ev) => {
    ev.tags = ev.tags.map((x) => (x[0] === 'expiration' ? ['expiration', String(exp)] : x));
  });
  t.ok(r.code === 0, 'short-lived offer published', r.err);
  const s1 = await sync(url, dir, ['--kind', '5100']);
  t.ok(s1.counts && s1.counts.stored === 1 && s1.counts.offers === 1, 'stored while alive',
    s1.counts);
  const pk1 = await peers(dir, 5100);
  t.ok(Array.isArray(pk1) && pk1.includes(E.pk), 'peers shows it while alive', pk1);
  while (now() <= exp)
    await sleep(250);
  const s2 = await sync(url, dir, ['--kind', '5100']);
  t.ok(s2.counts && s2.counts.expired === 1 && s2.counts.offers === 0,
    'purged once expired', s2.counts);
  const pk2 = await peers(dir, 5100);
  t.ok(!Array.isArray(pk2) || !pk2.includes(E.pk), 'peers no longer shows it', pk2);
});

await t.step('a bad offer is rejected by the view with its reason counted', async () => {
  const dir = join(base, 'view-bad');
  const X = newKey();
  const { r } = await rawOffer(url, X, ['--kind', '5050', '--backend', 'exec', '--price-job', '1'],
    (ev) => {
      ev.tags = ev.tags.map((x) => (x[0] === 'tier' ? ['tier', '2'] : x));
    });
  t.ok(r.code === 0, 'the relay takes it (it does not parse offers)', r.err);
  const s = await sync(url, dir, ['--kind', '5050']);
  const why = 'invalid: tier does not match vram and cc';
  t.ok(s.code === 0 && s.counts && s.counts.rejected === 1 && s.counts.reasons[why] === 1 &&
    s.counts.offers === 0, 'rejected, reason tallied', s.counts);
  const text = await hearthRun(hearth, ['market', 'sync', '--relay', url, '--data', dir,
    '--kind', '5050'], '', env);
  t.ok(text.code === 0 && text.out.some((l) => /^ {2}rejected +1$/.test(l)) &&
    text.out.some((l) => l.includes(`1  ${why}`)), 'the text form lists the reason', text.out);
});

await t.step('--kind narrows the sync to those job kinds', async () => {
  const s = await sync(url, join(base, 'view-kind'), ['--kind', '5100']);
  t.ok(s.counts && s.counts.offers === 0 && s.counts.events >= 1 && s.counts.stored === 0,
    'no 5970 offer is stored (only deletions and 5100 offers come)', s.counts);
});

await t.step('shutdown is bounded when the relay is gone', async () => {
  const r2 = await relay('r2', []);
  const D1 = newKey();
  const D2 = newKey();
  const d1 = await provider(r2.url, D1, ['--refresh', '600']);
  const d2 = await provider(r2.url, D2, ['--refresh', '600']);
  r2.kill('SIGKILL');
  await r2.exited;
  await sleep(200);
  let t0 = Date.now();
  d1.kill('SIGTERM');
  const c1 = await d1.exited;
  const took1 = Date.now() - t0;
  t.ok(c1 === 1 && took1 >= 4000 && took1 < 9000 && d1.stderr.includes('did not reach'),
    `no relay: exits 1 after the 5 s bound (${took1} ms)`, d1.stderr);
  t0 = Date.now();
  // process.kill: Child.kill sends one signal only
  process.kill(d2.p.pid, 'SIGTERM');
  await sleep(300);
  process.kill(d2.p.pid, 'SIGTERM');
  const c2 = await d2.exited;
  const took2 = Date.now() - t0;
  t.ok(c2 === 1 && took2 < 2500, `a second signal exits at once (${took2} ms)`, d2.stderr);
});

await t.step('market sync reports an unreachable relay', async () => {
  const port = await freePort();
  const s = await sync(`ws://127.0.0.1:${port}`, join(base, 'view-down'), ['--timeout', '10']);
  t.ok(s.code === 1 && /relay ws:\/\/127\.0\.0\.1:\d+: failed/.test(s.err) && s.counts &&
    s.counts.caught_up === true, 'exit 1, one line for the relay', { err: s.err, c: s.counts });
});

pb.kill('SIGTERM');
await pb.exited;
await t.finish();
