// Reputation from relays: metering notes (7441) and receipts (7442) signed
// with nostr-tools and sent to `hearth relay --discovery`; `hearth market
// reputation` follows them, scores each provider as seen from our key and
// explains it. An unbacked receipt from a stranger counts nothing.
//
//   node market_reputation.mjs path/to/hearth
import {
  Checks, cleanupDir, freePort, hearthRun, newKey, noKeyEnv, publishDirect,
  startHearthRelay, tmpDir,
} from './pool_common.mjs';
import { finalizeEvent } from 'nostr-tools/pure';
import { join } from 'node:path';

const hearth = process.argv[2];
if (!hearth) {
  console.error('usage: node market_reputation.mjs path/to/hearth');
  process.exit(2);
}

const t = new Checks('market_reputation');
const base = tmpDir('reputation');
t.defer(cleanupDir(base));
const env = noKeyEnv(base);
process.on('uncaughtException', async (e) => {
  t.ok(false, `uncaught: ${e.stack || e}`);
  await t.finish();
});
const now = Math.floor(Date.now() / 1000) - 600;
const h64 = (c) => c.repeat(64);

// provider p's final credit note to customer c for job `req`
function note(p, c, req, amount) {
  return finalizeEvent({
    kind: 7441, created_at: now, content: '',
    tags: [['e', req], ['p', c.pk], ['v', '1'], ['seq', '1'], ['final', '1'],
      ['usage', 'jobs', '1'], ['price', 'job', String(amount)],
      ['amount', String(amount)], ['input_sha256', '3c'.repeat(32)],
      ['output_sha256', '4d'.repeat(32)], ['rail', 'credit']],
  }, p.sk);
}

// customer c's receipt for note n of provider p
function receipt(c, p, n, req, dispute, amount) {
  const tags = [['e', n.id], ['request', req], ['p', p.pk], ['v', '1'],
    ['status', dispute ? 'dispute' : 'accept']];
  if (dispute)
    tags.push(['reason', dispute]);
  tags.push(['amount', String(amount)], ['rail', 'credit']);
  return finalizeEvent({ kind: 7442, created_at: now + 1, content: '', tags }, c.sk);
}

const us = newKey(), good = newKey(), good2 = newKey(), bad = newKey(),
  cust = newKey(), stranger = newKey();
const events = [];
function job(p, c, req, dispute = null) {
  const n = note(p, c, req, 50000);
  events.push(n, receipt(c, p, n, req, dispute, dispute ? 0 : 50000));
  return n;
}
const n1 = job(good, us, h64('1'));
job(bad, us, h64('2'), 'wrong_result');
job(good2, us, h64('5'));
// cust's standing comes from good2, whom we trust: it may rate good (a
// customer whose only standing came from good could not)
job(good2, cust, h64('6'));
job(good, cust, h64('3'));
// a stranger disputes a job good never billed it: no note, no weight
events.push(receipt(stranger, good, n1, h64('4'), 'not_delivered', 0));

const relay = await startHearthRelay(hearth, join(base, 'relay'), await freePort(),
  ['--discovery']);
t.defer(() => relay.kill('SIGKILL'));
const data = join(base, 'data');

await t.step('nostr-tools events reach the relay', async () => {
  const oks = await publishDirect(relay.url, events);
  t.ok([...oks.values()].every((v) => v === true), 'every event accepted',
    [...oks.values()]);
});

const byPk = (list) => Object.fromEntries(list.map((s) => [s.provider, s]));

await t.step('scores from the relay, explained', async () => {
  const r = await hearthRun(hearth, ['market', 'reputation', '--relay', relay.url,
    '--data', data, '--key', us.hex, '--json', '--sync', '10'], '', env);
  t.ok(r.code === 0, 'exits 0', r.err);
  let s = {};
  try { s = byPk(JSON.parse(r.out.join('\n'))); } catch { /* checks say so */ }
  const g = s[good.pk], b = s[bad.pk];
  t.ok(g && g.score > 0.7 && g.confidence > 0.5, 'the provider we accepted scores high', g);
  t.ok(b && b.score < 0.3, 'the provider we disputed scores low', b);
  t.ok(g && g.jobs === 2 && g.raters === 1 && g.weighted_raters === 1,
    'our job and the other customer\'s count', g);
  t.ok(g && g.unbacked === 1 && g.receipts === 3, 'the stranger\'s receipt is unbacked', g);
});

await t.step('without relays it scores what it kept', async () => {
  const r = await hearthRun(hearth, ['market', 'reputation', '--data', data,
    '--key', us.hex], '', env);
  t.ok(r.code === 0, 'exits 0', r.err);
  const line = r.out.find((l) => l.startsWith(good.pk));
  t.ok(line && /score 0\.\d+ conf/.test(line), 'a line with the explanation', r.out);
  t.ok(r.out[0].startsWith('# 6 receipts'), 'the six receipts', r.out[0]);
});

await t.step('a key is required', async () => {
  const r = await hearthRun(hearth, ['market', 'reputation', '--data', data], '', env);
  t.ok(r.code === 2 && /needs your key/.test(r.err), 'usage error', r.err);
});

await t.finish();
