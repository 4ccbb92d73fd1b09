// `hearth init` against a local market: three `hearth run` providers with
// different PoW prices publish offers to a `hearth relay`; init reads
// them, proposes the median, writes a 0600 configuration with the keys
// `hearth run` takes, and creates (or imports) the key. Re-running without
// --force refuses to overwrite; bad values are usage errors.
//
//   node init.mjs path/to/hearth
import {
  Checks, cleanupDir, freePort, hearthRun, noKeyEnv, sleep, startHearthRelay, tmpDir,
} from './pool_common.mjs';
import { startPeer } from './jobs_common.mjs';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import { nsecEncode, npubEncode } from 'nostr-tools/nip19';

const hearth = process.argv[2];
const t = new Checks('init');
const base = tmpDir('init');
t.defer(cleanupDir(base));
const env = noKeyEnv(base);
const peers = [];
t.defer(async () => { for (const p of peers) await p.stop('SIGKILL'); });

const relay = await startHearthRelay(hearth, join(base, 'relay'), await freePort());
t.defer(() => relay.kill('SIGKILL'));

await t.step('providers publish offers at 2, 5 and 40 msat per Mhash', async () => {
  for (const price of [2, 5, 40])
    peers.push(await startPeer(hearth, ['--relay', relay.url, '--runner',
      'pow,threads=1', '--price-mhash', String(price), '--price-job', String(price * 10)],
    { env }));
  await sleep(500);
});

const dir = join(base, 'me');
const conf = join(dir, 'hearth.conf');
const common = ['--config', conf, '--key', join(dir, 'key'), '--data', join(dir, 'data'),
  '--relay', relay.url, '--sync', '5', '--bench-ms', '100'];

await t.step('init proposes the market median and writes the config', async () => {
  const r = await hearthRun(hearth, ['init', '--yes', '--json', ...common], '', env);
  t.ok(r.code === 0, 'init exits 0', r.err);
  const o = JSON.parse(r.out.join('\n'));
  t.ok(o.from_market === true && o.comparable === 3, 'three comparable offers', o);
  t.ok(o.price_mhash === 5 && o.price_job === 50, 'the median prices', o);
  t.ok(o.key_created === true && o.npub.startsWith('npub1'), 'a new key', o);
  t.ok(o.bench_mhash_s > 0 && o.earn_msat_day > 0, 'benchmark and estimate', o);
  const text = readFileSync(conf, 'utf8');
  for (const line of [`relay = ${relay.url}`, 'runner = pow', 'price-mhash = 5',
    'price-job = 50', 'credit-limit = 20000', `key = ${join(dir, 'key')}`])
    t.ok(text.split('\n').includes(line), `config has "${line}"`, text);
  t.ok((statSync(conf).mode & 0o777) === 0o600, 'config is 0600');
  t.ok((statSync(join(dir, 'key')).mode & 0o777) === 0o600, 'key is 0600');
});

await t.step('an existing config is kept without --force', async () => {
  const before = readFileSync(conf, 'utf8');
  const r = await hearthRun(hearth, ['init', '--yes', ...common, '--price-mhash', '9'], '', env);
  t.ok(r.code === 2 && /exists: pass --force/.test(r.err), 'refused with the fix', r.err);
  t.ok(readFileSync(conf, 'utf8') === before, 'config unchanged');
  const f = await hearthRun(hearth, ['init', '--yes', '--json', ...common, '--force',
    '--price-mhash', '9', '--sync', '0'], '', env);
  const o = JSON.parse(f.out.join('\n'));
  t.ok(f.code === 0 && o.price_mhash === 9 && o.key_created === false,
    'forced: the given price, the same key', o);
});

await t.step('an imported nsec becomes the identity', async () => {
  const sk = generateSecretKey();
  const d2 = join(base, 'imported');
  const r = await hearthRun(hearth, ['init', '--yes', '--json', '--import', nsecEncode(sk),
    '--config', join(d2, 'c.conf'), '--key', join(d2, 'key'), '--data', join(d2, 'data'),
    '--sync', '0', '--bench-ms', '50'], '', env);
  const o = JSON.parse(r.out.join('\n'));
  t.ok(r.code === 0 && o.npub === npubEncode(getPublicKey(sk)), 'npub of the import', o);
});

await t.step('--encrypt stores an ncryptsec that hearth loads with the passphrase', async () => {
  const d3 = join(base, 'enc');
  const penv = { ...env, HEARTH_PASSPHRASE: 'correct horse' };
  const r = await hearthRun(hearth, ['init', '--yes', '--json', '--encrypt',
    '--config', join(d3, 'c.conf'), '--key', join(d3, 'key'), '--data', join(d3, 'data'),
    '--sync', '0', '--bench-ms', '50'], '', penv);
  const o = JSON.parse(r.out.join('\n'));
  t.ok(r.code === 0 && readFileSync(join(d3, 'key'), 'utf8').startsWith('ncryptsec1'),
    'the key file holds an ncryptsec', r.err);
  const show = await hearthRun(hearth, ['key', 'show', '--key', join(d3, 'key'), '--json'], '', penv);
  t.ok(show.code === 0 && show.out.join('').includes(o.npub), 'loads with the passphrase', show.err);
  const bad = await hearthRun(hearth, ['key', 'show', '--key', join(d3, 'key')], '',
    { ...env, HEARTH_PASSPHRASE: 'wrong' });
  t.ok(bad.code === 3 && /wrong password/.test(bad.err), 'a wrong passphrase is refused', bad.err);
});

await t.step('bad input is a usage error naming the fix', async () => {
  let r = await hearthRun(hearth, ['init', '--yes', '--price-mhash', 'cheap'], '', env);
  t.ok(r.code === 2 && /--price-mhash wants a whole number/.test(r.err), 'bad price', r.err);
  r = await hearthRun(hearth, ['init', '--yes', '--import', 'nsec1nope',
    '--key', join(base, 'k3'), '--config', join(base, 'c3')], '', env);
  t.ok(r.code === 2 && /--import/.test(r.err), 'bad nsec', r.err);
});

await t.finish();
