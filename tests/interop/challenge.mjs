// The hardware check (docs/challenge.md): `hearth market challenge`
// against an honest `hearth run --runner pow` provider, whose offer carries
// its real benchmark, and a lying provider written here with nostr-tools:
// its offer claims an RTX 4090 mining 20 GH/s, and it serves kind 5970 by
// mining in JavaScript. The honest one passes, the liar fails; the market
// view keeps the marks (`hearth peers --json`), and selection skips the
// liar's offer although its claimed speed would make it the fastest.
//
//   node challenge.mjs path/to/hearth
// The liar runs in a child process (mining blocks its event loop):
//   node challenge.mjs --liar ws://relay secret-key-hex
import {
  Checks, cleanupDir, freePort, hearthRun, hearthSpawn, newKey, noKeyEnv, sleep,
  startHearthRelay, tmpDir,
} from './pool_common.mjs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { finalizeEvent, getEventHash, getPublicKey } from 'nostr-tools/pure';
import WebSocket from 'ws';

const now = () => Math.floor(Date.now() / 1000);

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

// nostr-tools' minePow loop, without its created_at refresh (the customer
// checks that the miner changed nothing but the nonce)
function mine(ev, bits) {
  ev.tags.push(['nonce', '0', String(bits)]);
  const tag = ev.tags[ev.tags.length - 1];
  for (let k = 1; ; k++) {
    tag[1] = String(k);
    ev.id = getEventHash(ev);
    if (zeroBits(ev.id) >= bits)
      return ev;
  }
}

// The liar: processing feedback at once, then honest work at JS speed.
function liarMain(url, skHex) {
  const sk = Uint8Array.from(Buffer.from(skHex, 'hex'));
  const pk = getPublicKey(sk);
  const ws = new WebSocket(url);
  ws.on('open', () => ws.send(JSON.stringify(['REQ', 'liar',
    { kinds: [5970], '#p': [pk], since: now() - 5 }])));
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    if (m[0] !== 'EVENT' || m[1] !== 'liar')
      return;
    const req = m[2];
    const input = JSON.parse(req.tags.find((x) => x[0] === 'i')[1]);
    const bits = Number(req.tags.find((x) => x[0] === 'param' && x[1] === 'pow')[2]);
    const tags = [['e', req.id], ['p', req.pubkey], ['status', 'processing']];
    ws.send(JSON.stringify(['EVENT', finalizeEvent({ kind: 7000, created_at: now(),
      content: '', tags }, sk)]));
    // let the feedback leave before the loop blocks
    setTimeout(() => {
      const t0 = Date.now();
      const ev = mine({ ...input, tags: [...input.tags] }, bits);
      process.stderr.write(`liar: ${bits} bits in ${Date.now() - t0} ms\n`);
      ws.send(JSON.stringify(['EVENT', finalizeEvent({ kind: 6970, created_at: now(),
        content: JSON.stringify(ev), tags: [['e', req.id], ['p', req.pubkey]] }, sk)]));
    }, 20);
  });
}

if (process.argv[2] === '--liar') {
  liarMain(process.argv[3], process.argv[4]);
} else {
  await main(process.argv[2]);
}

async function main(hearth) {
  if (!hearth) {
    console.error('usage: node challenge.mjs path/to/hearth');
    process.exit(2);
  }
  const t = new Checks('challenge');
  const base = tmpDir('chal');
  t.defer(cleanupDir(base));
  const env = noKeyEnv(base);
  const dir = (name) => join(base, name);
  process.on('uncaughtException', async (e) => {
    t.ok(false, `uncaught: ${e.stack || e}`);
    await t.finish();
  });

  const relay = await startHearthRelay(hearth, dir('relay'), await freePort(), []);
  t.defer(() => relay.kill('SIGKILL'));
  const url = relay.url;

  async function offerOn(pk) {
    for (let i = 0; i < 100; i++) {
      const r = await hearthRun(hearth, ['req', JSON.stringify({ kinds: [31907], authors: [pk] }),
        '--relay', url, '--timeout', '5'], '', env);
      if (r.out.some((l) => l.startsWith('{')))
        return JSON.parse(r.out.find((l) => l.startsWith('{')));
      await sleep(100);
    }
    throw new Error(`no offer from ${pk}`);
  }

  async function challenge(pk, extra = []) {
    const r = await hearthRun(hearth, ['market', 'challenge', pk, '--relay', url,
      '--data', dir('cust'), '--json', ...extra], '', env, 120000);
    let j = null;
    try {
      j = JSON.parse(r.out.join('\n'));
    } catch {
      // the checks say so
    }
    return { ...r, j };
  }

  // the honest provider: its offer's bench_mhash_s is what it measured
  const honest = newKey();
  const hp = hearthSpawn(hearth, ['run', '--relay', url, '--data', dir('honest'),
    '--key', honest.hex, '--runner', 'pow,price-job=1', '--credit', '100000'], env);
  t.defer(() => hp.kill('SIGKILL'));
  await hp.waitFor((l) => l.some((x) => x.includes('"ready"')), 20000, 'honest ready');
  const hOffer = await offerOn(honest.pk);
  const hBench = Number((hOffer.tags.find((x) => x[0] === 'bench' && x[1] === 'mhash_s') || [])[2] || 0);

  // the liar: an offer for an RTX 4090 at 20 GH/s, a JS miner behind it
  const liar = newKey();
  const pub = await hearthRun(hearth, ['offer', 'publish', '--relay', url, '--key', liar.hex,
    '--no-detect', '--gpu', 'NVIDIA GeForce RTX 4090', '--vram', '24217', '--cc', '8.9',
    '--bench-mhash', '20000', '--price-job', '1', '--rail', 'credit', '--rail', 'lightning'],
  '', env);
  t.ok(pub.code === 0, 'the lying offer is published', pub.err);
  const lp = spawn(process.execPath, [fileURLToPath(import.meta.url), '--liar', url, liar.hex],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let liarLog = '';
  lp.stderr.on('data', (d) => { liarLog += d; });
  t.defer(() => lp.kill('SIGKILL'));
  await offerOn(liar.pk);
  await sleep(300); // the liar's subscription

  let honestMhs = 0;
  let liarMhs = -1;
  await t.step('the honest CPU provider passes', async () => {
    const r = await challenge(honest.pk);
    const j = r.j || {};
    t.ok(r.code === 0 && j.verdict === 'pass', 'exit 0, verdict pass', { code: r.code, j, err: r.err });
    t.ok(j.from_bench === true && j.claimed_mhs === hBench, 'claimed = the offer benchmark',
      { j, hBench });
    t.ok(j.jobs === 8 && j.done === 8 && j.samples && j.samples.length === 8 &&
      j.samples.every((s) => s.outcome === 'done'), 'eight jobs, all verified', j);
    t.ok(j.measured_mhs * 4 >= j.claimed_mhs, 'at least a quarter of the claim', j);
    honestMhs = j.measured_mhs;
  });

  await t.step('the lying provider fails', async () => {
    const t0 = Date.now();
    const r = await challenge(liar.pk);
    const j = r.j || {};
    t.ok(r.code === 1 && j.verdict === 'fail', 'exit 1, verdict fail', { code: r.code, j, err: r.err });
    t.ok(j.claimed_mhs === 20000 && j.bits >= 30, 'sized for 20 GH/s', j);
    t.ok(j.measured_mhs * 4 < j.claimed_mhs && /below 1\/4/.test(j.reason || ''),
      'the reason says it fell short', j);
    t.ok(Date.now() - t0 < 60000, 'the budget ends it in time', Date.now() - t0);
    liarMhs = j.measured_mhs;
  });

  await t.step('the view keeps the marks; selection skips the liar', async () => {
    const r = await hearthRun(hearth, ['peers', '--json', '--data', join(dir('cust'), 'view'),
      '--kind', '5970', '--strategy', 'fastest', '--top-n', '1', '--limit', '10'], '', env);
    let j = {};
    try {
      j = JSON.parse(r.out.join('\n'));
    } catch {
      // checked below
    }
    const c = j.candidates || [];
    t.ok(j.considered === 2 && j.eligible === 1 && j.left_out && j.left_out.hw_failed === 1,
      'one offer left out: failed the hardware check', j);
    t.ok(c.length === 1 && c[0].pubkey === honest.pk && c[0].hw_check &&
      c[0].hw_check.verdict === 'pass' && c[0].hw_check.measured_mhs > 0,
    'the honest provider is listed with its pass mark', c);
    const txt = await hearthRun(hearth, ['peers', '--data', join(dir('cust'), 'view'),
      '--kind', '5970', '--explain'], '', env);
    t.ok(/1 failed the hardware check/.test(txt.out.join('\n')) &&
      /hardware check: pass/.test(txt.out.join('\n')), 'the table says so', txt.out);
    // a job chosen by the market goes to the honest provider
    const input = JSON.stringify({ kind: 1, tags: [], content: 'after the check' });
    const s = await hearthRun(hearth, ['job', 'submit', '--kind', '5970', '--pow', '8',
      '--input', input, '--relay', url, '--data', dir('cust'), '--json',
      '--strategy', 'fastest', '--deadline', '60'], '', env, 90000);
    let sj = {};
    try {
      sj = JSON.parse(s.out.join('\n'));
    } catch {
      // checked below
    }
    t.ok(s.code === 0 && sj.provider === honest.pk && sj.verified,
      'job submit --strategy fastest picks the honest provider', { code: s.code, sj, err: s.err });
  });

  await t.step('a provider with no offer cannot be checked', async () => {
    const r = await challenge(newKey().pk);
    t.ok(r.code === 3 && /no live PoW offer/.test(r.err), 'exit 3 with the reason', r);
  });

  await t.finish(`honest ${honestMhs} MH/s (bench ${hBench}), liar ${liarMhs} MH/s ` +
    `claiming 20000; ${liarLog.trim().split('\n').slice(-1)[0] || 'liar mined nothing'}`);
}
