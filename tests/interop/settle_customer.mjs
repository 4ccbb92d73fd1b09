// The customer side of settlement (docs/settlement.md): the real `hearth
// job submit` buys from a provider written here with nostr-tools, which
// asks to be paid with invoices of the test wallet (nwc_wallet.mjs
// --control, accounts provider=0 customer=100000) and runs a tiny PoW job
// once the wallet tells it the invoice was paid. Scenarios: a prepaid job
// paid and delivered (reserve, release used, wallet balances moved); an
// error after payment (release 0: a refund due); an invoice whose amount
// is not the amount tag, and a price above --max-price (not paid, the
// attempt fails with a reason); no --wallet; a credit job whose note
// comes twice (accepted booked once, `hearth ledger settle` again changes
// nothing); then an overdue debt asked with the next job's price (paid
// above --max-price by the debt, booked as payment + reserve); kill -9 of `hearth job submit` right after paying, then
// `hearth ledger settle` books the payment and the result.
//
//   node settle_customer.mjs path/to/hearth
import {
  Checks, cleanupDir, hearthRun, hearthSpawn, here, newKey, noKeyEnv, sleep,
  startHearthRelay, tmpDir,
} from './pool_common.mjs';
import { createHash } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { finalizeEvent, getEventHash } from 'nostr-tools/pure';
import WebSocket from 'ws';

const hearth = process.argv[2];
if (!hearth) {
  console.error('usage: node settle_customer.mjs path/to/hearth');
  process.exit(2);
}

const t = new Checks('settle_customer');
const base = tmpDir('settle');
t.defer(cleanupDir(base));
const env = noKeyEnv(base);
process.on('uncaughtException', async (e) => {
  // a quick hearth command may exit before hearthRun closes its stdin
  if (e && e.code === 'EPIPE')
    return;
  t.ok(false, `uncaught: ${e.stack || e}`);
  await t.finish();
});
const now = () => Math.floor(Date.now() / 1000);
const dir = (name) => join(base, name);
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const PRICE = 50;

const relay = await startHearthRelay(hearth, dir('relay'), 0);
t.defer(() => relay.kill('SIGKILL'));

// ---- the wallet, driven over its --control channel ----

const wallet = hearthSpawn(process.execPath, [join(here, 'nwc_wallet.mjs'), relay.url,
  'provider=0', 'customer=100000', '--control']);
t.defer(() => wallet.kill());
await wallet.waitFor((l) => l.some((x) => x.startsWith('{"accounts"')), 15000, 'wallet ready');
const accounts = JSON.parse(wallet.lines.find((x) => x.startsWith('{"accounts"'))).accounts;
const walletFile = join(base, 'customer.nwc');
writeFileSync(walletFile, accounts.customer + '\n', { mode: 0o600 });
chmodSync(walletFile, 0o600);

let ctlId = 0;
async function control(account, method, params = {}) {
  const id = ++ctlId;
  wallet.p.stdin.write(JSON.stringify({ id, account, method, params }) + '\n');
  const pred = (l) => l.some((x) => x.startsWith(`{"id":${id},`));
  await wallet.waitFor(pred, 10000, `wallet ${method}`);
  return JSON.parse(wallet.lines.find((x) => x.startsWith(`{"id":${id},`)));
}
const balance = async (acct) => (await control(acct, 'get_balance')).result.balance;
const paidLines = () => wallet.lines.filter((x) => x.startsWith('{"paid"')).map((x) => JSON.parse(x).paid);

// ---- the provider ----

function zeroBits(hexId) {
  let n = 0;
  for (const c of hexId) {
    const v = parseInt(c, 16);
    if (v !== 0)
      return n + Math.clz32(v) - 28;
    n += 4;
  }
  return n;
}

function mine(req) {
  const input = JSON.parse(req.tags.find((x) => x[0] === 'i')[1]);
  const target = Number(req.tags.find((x) => x[0] === 'param' && x[1] === 'pow')[2]);
  const ev = { ...input, tags: [...input.tags, ['nonce', '0', String(target)]] };
  for (let k = 0; ; k++) {
    ev.tags[ev.tags.length - 1][1] = String(k);
    ev.id = getEventHash(ev);
    if (zeroBits(ev.id) >= target)
      return JSON.stringify(ev);
  }
}

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

const pkey = newKey();
const ws = new WebSocket(relay.url);
await new Promise((resolve) => ws.on('open', resolve));
t.defer(() => ws.close());
const send = (ev) => ws.send(JSON.stringify(['EVENT', ev]));
const sign = (fields) => finalizeEvent({ created_at: now(), content: '', ...fields }, pkey.sk);
const feedback = (req, status, info, extra = []) => send(sign({ kind: 7000,
  tags: [['status', status, info], ['e', req.id], ['p', req.pubkey], ...extra] }));

const prov = { mode: 'prepay', notes: new Map(), seen: [] };

function deliver(req, rail) {
  const content = mine(req);
  send(sign({ kind: 6970, content, tags: [['e', req.id], ['p', req.pubkey], ['amount', String(PRICE)]] }));
  const note = sign({ kind: 7441, tags: [
    ['e', req.id], ['p', req.pubkey], ['v', '1'], ['seq', '1'], ['final', '1'],
    ['usage', 'jobs', '1'], ['usage', 'tokens_in', '0'], ['usage', 'tokens_out', '0'],
    ['usage', 'gpu_ms', '0'], ['usage', 'hashes', '0'], ['price', 'job', String(PRICE)],
    ['amount', String(PRICE)], ['input_sha256', inputHash(req)],
    ['output_sha256', sha256(content)], ['rail', rail]] });
  prov.notes.set(req.id, note);
  send(note);
  return note;
}

// after the wallet says the invoice was paid: run, or fail
async function afterPayment(req, hash, then) {
  const end = Date.now() + 30000;
  while (!paidLines().some((p) => p.payment_hash === hash)) {
    if (Date.now() > end)
      return;
    await sleep(50);
  }
  if (prov.delayMs)
    await sleep(prov.delayMs);
  feedback(req, 'processing', 'payment received');
  then();
}

async function onRequest(req) {
  const mode = prov.mode;
  prov.seen.push({ req, mode });
  if (mode === 'credit') {
    feedback(req, 'processing', 'running');
    const note = deliver(req, 'credit');
    await sleep(300);
    send(note); // the same note again
    return;
  }
  const asked = mode === 'above-max' ? 500 : mode === 'overdue' ? 2 * PRICE : PRICE;
  const inv = await control('provider', 'make_invoice', { amount: asked, description: 'hearth job' });
  const tagAmount = mode === 'mismatch' ? asked + 10 : asked;
  feedback(req, 'payment-required', 'pay first', [['amount', String(tagAmount), inv.result.invoice]]);
  if (mode === 'prepay-error')
    afterPayment(req, inv.result.payment_hash, () => feedback(req, 'error', 'the runner broke'));
  else
    afterPayment(req, inv.result.payment_hash, () => deliver(req, 'lightning'));
}

ws.send(JSON.stringify(['REQ', 'p', { kinds: [5970], '#p': [pkey.pk], since: now() - 5 }]));
ws.on('message', (d) => {
  const m = JSON.parse(d.toString());
  if (m[0] === 'EVENT' && m[1] === 'p')
    onRequest(m[2]);
});

// ---- the customer ----

const unsigned = (content) => JSON.stringify({ kind: 1, content, tags: [['t', 'hearth']] });

function submitArgs(name, key, extra = []) {
  return ['job', 'submit', '--kind', '5970', '--pow', '8', '--input', unsigned(`job ${name}`),
    '--relay', relay.url, '--data', dir(name), '--key', key.hex, '--provider', pkey.pk,
    '--max-price', '100', '--json', '--deadline', '60', '--attempt-timeout', '20', ...extra];
}

async function submit(name, key, extra = []) {
  const r = await hearthRun(hearth, submitArgs(name, key, extra), '', env, 90000);
  let j = {};
  try {
    j = JSON.parse(r.out.join('\n'));
  } catch { /* checked by the caller */ }
  return { ...r, j };
}

async function ledgerJson(name, verb) {
  const r = await hearthRun(hearth, ['ledger', verb, '--data', dir(name), '--json'], '', env);
  const text = r.out.join('\n');
  if (verb === 'history')
    return r.out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  try {
    return JSON.parse(text);
  } catch {
    return { err: r.err, text };
  }
}

async function ledgerCheck(name) {
  const r = await hearthRun(hearth, ['ledger', 'check', '--data', dir(name)], '', env);
  return r.code === 0;
}

const kinds = (hist, job) => hist.filter((e) => !job || e.job === job).map((e) => e.kind).sort();

await t.step('a prepaid job: paid, delivered, reserve and release booked', async () => {
  const key = newKey();
  const before = await balance('customer');
  prov.mode = 'prepay';
  const s = await submit('c1', key, ['--wallet', walletFile]);
  const a = (s.j.attempts || [])[0] || {};
  t.ok(s.code === 0 && s.j.outcome === 'ok' && s.j.verified, 'the job delivered', s.j.outcome ? s.j : s.err);
  t.ok(a.paid_msat === PRICE, 'the attempt paid the price', a);
  t.ok(/paid 50 msat over Lightning/.test(s.err), 'stderr tells of the payment', s.err);
  t.ok(!s.err.includes('nostr+walletconnect') && !s.err.includes('secret'), 'the connection is never logged');
  t.ok(a.receipt && a.receipt.status === 'accepted', 'the note was accepted', a.receipt);
  t.ok(await balance('customer') === before - PRICE, 'the customer wallet paid 50 msat');
  const hist = await ledgerJson('c1', 'history');
  t.ok(JSON.stringify(kinds(hist, a.request_id)) === '["release","reserve"]',
    'ledger: reserve then release for the job', hist);
  const bal = await ledgerJson('c1', 'balances');
  const b = (Array.isArray(bal) ? bal : []).find((x) => x.counterparty === pkey.pk && x.rail === 'lightning') || {};
  t.ok(b.expense_msat === PRICE && b.net_owed_msat === 0, 'ledger: 50 msat expense, nothing owed', bal);
  t.ok(await ledgerCheck('c1'), 'ledger check passes');
});

await t.step('an error after payment: released unused, a refund due', async () => {
  const key = newKey();
  prov.mode = 'prepay-error';
  const s = await submit('c2', key, ['--wallet', walletFile]);
  const a = (s.j.attempts || [])[0] || {};
  t.ok(s.code === 1 && a.outcome === 'error' && a.paid_msat === PRICE && /runner broke/.test(a.reason),
    'the paid attempt failed with the provider error', s.j.attempts || s.err);
  const hist = await ledgerJson('c2', 'history');
  t.ok(JSON.stringify(kinds(hist, a.request_id)) === '["release","reserve"]', 'reserve and release', hist);
  const bal = await ledgerJson('c2', 'balances');
  const b = (Array.isArray(bal) ? bal : []).find((x) => x.counterparty === pkey.pk) || {};
  t.ok(b.net_owed_msat === PRICE && b.expense_msat === 0, 'the provider owes the 50 msat back', bal);
  const st = await hearthRun(hearth, ['job', 'status', a.request_id, '--data', dir('c2'), '--json'], '', env);
  t.ok(st.code === 0, 'status reads the record', st.err);
});

for (const [mode, name, re] of [
  ['mismatch', 'c3', /invoice is for 50 msat, not the 60 msat asked/],
  ['above-max', 'c4', /asks 500 msat, above the maximum of 100/],
]) {
  await t.step(`not paid: ${mode}`, async () => {
    const key = newKey();
    const before = await balance('customer');
    const npaid = paidLines().length;
    prov.mode = mode;
    const s = await submit(name, key, ['--wallet', walletFile]);
    const a = (s.j.attempts || [])[0] || {};
    t.ok(s.code === 1 && a.outcome === 'price' && re.test(a.reason) && !a.paid_msat,
      'the attempt fails with the reason', s.j.attempts || s.err);
    await sleep(300);
    t.ok(await balance('customer') === before && paidLines().length === npaid, 'nothing was paid');
    const hist = await ledgerJson(name, 'history');
    t.ok(hist.length === 0, 'nothing booked', hist);
  });
}

await t.step('no --wallet: a payment it cannot make fails the attempt', async () => {
  const key = newKey();
  prov.mode = 'prepay';
  const s = await submit('c5', key);
  const a = (s.j.attempts || [])[0] || {};
  t.ok(s.code === 1 && /payment required: no wallet connection \(--wallet\)/.test(a.reason),
    'the attempt says why', s.j.attempts || s.err);
});

const creditKey = newKey();
await t.step('credit: the note arrives twice, booked once, settle again changes nothing', async () => {
  const key = creditKey;
  prov.mode = 'credit';
  const s = await submit('c6', key);
  const a = (s.j.attempts || [])[0] || {};
  t.ok(s.code === 0 && a.receipt && a.receipt.status === 'accepted' && a.receipt.amount_msat === PRICE,
    'accepted', s.j.attempts || s.err);
  let hist = await ledgerJson('c6', 'history');
  t.ok(JSON.stringify(kinds(hist)) === '["accepted"]' && hist[0].amount_msat === PRICE &&
    hist[0].rail === 'credit', 'one accepted entry on credit', hist);
  const r = await hearthRun(hearth, ['ledger', 'settle', '--data', dir('c6'), '--key', key.hex,
    '--relay', relay.url, '--json', '--timeout', '5'], '', env);
  let j = {};
  try {
    j = JSON.parse(r.out.join('\n'));
  } catch { /* below */ }
  t.ok(r.code === 0 && j.unfinished === 0, 'settle: nothing unfinished', r.out.join('\n') + r.err);
  hist = await ledgerJson('c6', 'history');
  t.ok(hist.length === 1, 'still one entry', hist);
  const bal = await ledgerJson('c6', 'balances');
  const b = (Array.isArray(bal) ? bal : []).find((x) => x.counterparty === pkey.pk) || {};
  t.ok(b.net_owed_msat === -PRICE, 'we owe the provider 50 msat on credit', bal);
});

await t.step('overdue: an invoice for debt + price within max + debt pays both', async () => {
  prov.mode = 'overdue';
  const s = await submit('c6', creditKey, ['--wallet', walletFile, '--max-price', '60']);
  const a = (s.j.attempts || [])[0] || {};
  t.ok(s.code === 0 && a.paid_msat === 2 * PRICE && a.receipt && a.receipt.status === 'accepted',
    'paid 100 msat (50 owed + 50) although --max-price is 60', s.j.attempts || s.err);
  const hist = await ledgerJson('c6', 'history');
  t.ok(JSON.stringify(kinds(hist, a.request_id)) === '["payment","release","reserve"]',
    'payment of the debt, reserve and release of the price', hist);
  const bal = await ledgerJson('c6', 'balances');
  const cr = (Array.isArray(bal) ? bal : []).find((x) => x.counterparty === pkey.pk && x.rail === 'credit') || {};
  t.ok(cr.net_owed_msat === 0, 'the credit debt is paid', bal);
  t.ok(await ledgerCheck('c6'), 'ledger check passes');
});

await t.step('kill -9 right after paying; hearth ledger settle finishes it', async () => {
  const key = newKey();
  prov.mode = 'prepay';
  prov.delayMs = 1500; // the result comes after the customer is gone
  const npaid = paidLines().length;
  const c = hearthSpawn(hearth, submitArgs('c7', key, ['--wallet', walletFile]), env);
  t.defer(() => c.kill('SIGKILL'));
  const end = Date.now() + 30000;
  while (paidLines().length === npaid && Date.now() < end)
    await sleep(5);
  c.kill('SIGKILL');
  await c.exited;
  t.ok(paidLines().length === npaid + 1, 'the wallet paid, then the customer was killed', c.stderr);
  await sleep(3000); // the provider delivers meanwhile
  const r = await hearthRun(hearth, ['ledger', 'settle', '--data', dir('c7'), '--key', key.hex,
    '--relay', relay.url, '--wallet', walletFile, '--json', '--timeout', '10'], '', env);
  let j = {};
  try {
    j = JSON.parse(r.out.join('\n'));
  } catch { /* below */ }
  const jobs = j.jobs || [];
  t.ok(r.code === 0 && j.receipts === 1 && jobs.some((x) => x.status === 'receipt accepted'),
    'settle answered the final note', r.out.join('\n') + r.err);
  t.ok(!r.err.includes('nostr+walletconnect'), 'the connection is never logged');
  const found = jobs.some((x) => x.status === 'paid');
  console.log(`  (the killed customer had ${found ? 'not booked the payment: settle looked it up' :
    'booked the payment before it died'})`);
  const hist = await ledgerJson('c7', 'history');
  t.ok(JSON.stringify(kinds(hist)) === '["release","reserve"]', 'reserve and release booked', hist);
  const note = [...prov.notes.values()].at(-1);
  const rc = await hearthRun(hearth, ['req', JSON.stringify({ kinds: [7442], authors: [key.pk] }),
    '--relay', relay.url, '--timeout', '5'], '', env);
  const receipts = rc.out.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  t.ok(receipts.length === 1 && receipts[0].tags.some((x) => x[0] === 'e' && x[1] === note.id) &&
    receipts[0].tags.some((x) => x[0] === 'preimage'), 'one receipt for the note, with the preimage', receipts);
  const again = await hearthRun(hearth, ['ledger', 'settle', '--data', dir('c7'), '--key', key.hex,
    '--relay', relay.url, '--wallet', walletFile, '--json', '--timeout', '5'], '', env);
  t.ok(again.code === 0 && /"unfinished":0/.test(again.out.join('')), 'a second settle finds nothing',
    again.out.join('\n') + again.err);
  t.ok(await ledgerCheck('c7'), 'ledger check passes');
  prov.delayMs = 0;
});

await t.finish();
