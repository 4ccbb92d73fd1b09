// A NIP-47 (Nostr Wallet Connect) wallet service for tests.
//
// It STANDS IN for a real wallet (Alby Hub, Mutiny, LND or CLN behind an
// NWC bridge): it speaks the same protocol over a relay, so hearth's client
// code (src/ledger/nwc.c) is exactly the code that talks to a real wallet.
// What it does not do is move real money: balances live in memory, and its
// bolt11 invoices are laid out as BOLT 11 says (lnbcrt prefix and amount,
// timestamp, a p field with the payment hash, a bech32 checksum) but carry
// a random signature, so no Lightning node would accept them. Each invoice
// carries a random 32-byte preimage whose SHA-256 is its payment_hash, as
// on Lightning, so proof-of-payment checks are real. lookup_invoice finds
// an invoice for the account that made it (type incoming) and for the one
// that paid it (type outgoing), as real wallets do; nobody else sees it.
//
// usage: node nwc_wallet.mjs RELAY_URL [ACCOUNT...] [--silent]
//   ACCOUNT is name=balance_msat[/nip04] (default provider=0 customer=100000):
//   one wallet key and one connection secret per account (NIP-47 suggests a
//   key per connection); "/nip04" makes that wallet's info event advertise
//   NIP-04 only, otherwise "nip44_v2 nip04".
//   --silent: publish info events but never answer (timeout tests).
//   --control: also read commands from stdin, one JSON line each,
//     {"id":N,"account":NAME,"method":M,"params":{...}} with the NIP-47
//     methods, answered on stdout as {"id":N,"result":...} or
//     {"id":N,"error":{...}}; every payment is told on stdout as
//     {"paid":{"payment_hash":H,"amount":MSAT,"payer":NAME,"payee":NAME}}
//     (tests acting as a provider without an NWC client of their own).
//   --log-payments: after the ready line, print one JSON line per payment
//   made, {"paid":{"payment_hash","amount","payer","payee","settled_at"}}
//   (settle_crash.mjs checks both ledgers against them).
// When subscribed and its info events are accepted it prints one JSON line:
//   {"accounts":{"provider":"nostr+walletconnect://...",...},"relay":URL}
// Payments move balance between accounts of this service only; an invoice
// it did not make fails with PAYMENT_FAILED.
import { createHash, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { createInterface } from 'node:readline';
import { bech32 } from '@scure/base';
import { finalizeEvent, generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure';
import * as nip04 from 'nostr-tools/nip04';
import * as nip44 from 'nostr-tools/nip44';

const METHODS = ['pay_invoice', 'make_invoice', 'lookup_invoice', 'get_balance', 'get_info'];

const args = process.argv.slice(2);
const relayUrl = args.find((a) => a.startsWith('ws'));
const silent = args.includes('--silent');
const control = args.includes('--control');
const logPayments = args.includes('--log-payments');
const specs = args.filter((a) => a.includes('='));
if (!relayUrl) {
  console.error('usage: node nwc_wallet.mjs RELAY_URL [name=msat[/nip04]...] [--silent]');
  process.exit(2);
}

const hex = (b) => Buffer.from(b).toString('hex');
const now = () => Math.floor(Date.now() / 1000);

// accounts by wallet pubkey
const accounts = new Map();
for (const spec of specs.length ? specs : ['provider=0', 'customer=100000']) {
  const [name, rest] = spec.split('=');
  const [bal, enc] = rest.split('/');
  const walletSk = generateSecretKey();
  const clientSk = generateSecretKey();
  accounts.set(getPublicKey(walletSk), {
    name, balance: Number(bal), nip44: enc !== 'nip04',
    walletSk, walletPk: getPublicKey(walletSk),
    clientSk, clientPk: getPublicKey(clientSk),
  });
}
const invoices = new Map(); // payment_hash -> invoice record

function fakeBolt11(amountMsat, hashHex) {
  // amount in pico-BTC ("p" multiplier: 1 msat = 10 pBTC); data: a 35-bit
  // timestamp, the p field (type 1, 52 five-bit words), a random signature
  // (104 words); bech32 adds the checksum
  const ts = [];
  for (let i = 6, t = now(); i >= 0; i--, t = Math.floor(t / 32))
    ts[i] = t % 32;
  const sig = [...randomBytes(104)].map((b) => b & 31);
  const words = [...ts, 1, 1, 20, ...bech32.toWords(Buffer.from(hashHex, 'hex')), ...sig];
  return bech32.encode(`lnbcrt${amountMsat * 10}p`, words, false);
}

function makeInvoice(acct, p) {
  if (!Number.isInteger(p.amount) || p.amount <= 0)
    throw { code: 'OTHER', message: 'amount must be a positive integer (msat)' };
  const preimage = randomBytes(32);
  const paymentHash = createHash('sha256').update(preimage).digest('hex');
  const created = now();
  const inv = {
    type: 'incoming', invoice: fakeBolt11(p.amount, paymentHash),
    description: p.description ?? '', payment_hash: paymentHash,
    amount: p.amount, fees_paid: 0, created_at: created,
    expires_at: created + (Number.isInteger(p.expiry) && p.expiry > 0 ? p.expiry : 3600),
    preimage: hex(preimage), payee: acct, settled_at: 0,
  };
  invoices.set(paymentHash, inv);
  return view(inv);
}

// what a wallet shows of an invoice: the preimage only once it is paid
function view(inv) {
  const { payee, preimage, settled_at, ...pub } = inv;
  return settled_at ? { ...pub, preimage, settled_at } : pub;
}

function findInvoice(p) {
  if (typeof p.payment_hash === 'string')
    return invoices.get(p.payment_hash);
  if (typeof p.invoice === 'string')
    return [...invoices.values()].find((i) => i.invoice === p.invoice);
  return undefined;
}

// lookup_invoice: the payee sees its incoming invoice, the payer its
// outgoing payment; to anyone else the invoice does not exist
function lookupInvoice(acct, p) {
  const inv = findInvoice(p);
  if (inv && inv.payee === acct)
    return view(inv);
  if (inv && inv.payer === acct)
    return { ...view(inv), type: 'outgoing' };
  throw { code: 'NOT_FOUND', message: 'no such invoice' };
}

function payInvoice(acct, p) {
  const inv = typeof p.invoice === 'string' ? findInvoice({ invoice: p.invoice }) : undefined;
  if (!inv)
    throw { code: 'PAYMENT_FAILED', message: 'unknown invoice (this test wallet pays only its own)' };
  if (inv.settled_at)
    throw { code: 'PAYMENT_FAILED', message: 'invoice already paid' };
  if (inv.expires_at < now())
    throw { code: 'PAYMENT_FAILED', message: 'invoice expired' };
  if (acct.balance < inv.amount)
    throw { code: 'INSUFFICIENT_BALANCE', message: `balance ${acct.balance} msat < ${inv.amount} msat` };
  acct.balance -= inv.amount;
  inv.payee.balance += inv.amount;
  inv.settled_at = now();
  inv.payer = acct;
  if (control)
    console.log(JSON.stringify({ paid: { payment_hash: inv.payment_hash, amount: inv.amount,
      payer: acct.name, payee: inv.payee.name } }));
  if (logPayments)
    console.log(JSON.stringify({ paid: { payment_hash: inv.payment_hash, amount: inv.amount,
      payer: acct.name, payee: inv.payee.name, settled_at: inv.settled_at } }));
  return { preimage: inv.preimage, fees_paid: 0 };
}

function handle(acct, req) {
  const p = req.params && typeof req.params === 'object' ? req.params : {};
  switch (req.method) {
  case 'make_invoice': return makeInvoice(acct, p);
  case 'pay_invoice': return payInvoice(acct, p);
  case 'lookup_invoice': return lookupInvoice(acct, p);
  case 'get_balance': return { balance: acct.balance };
  case 'get_info':
    return { alias: `hearth test wallet (${acct.name})`, color: '#ff9900', pubkey: acct.walletPk,
      network: 'regtest', block_height: 1, block_hash: '00'.repeat(32), methods: METHODS };
  default:
    throw { code: 'NOT_IMPLEMENTED', message: `unknown method ${req.method}` };
  }
}

const ws = new WebSocket(relayUrl);
const send = (m) => ws.send(JSON.stringify(m));
const pendingOk = new Set();

function respond(acct, reqEv, useNip44, method, body) {
  const text = JSON.stringify({ result_type: method, ...body });
  const content = useNip44
    ? nip44.encrypt(text, nip44.getConversationKey(acct.walletSk, acct.clientPk))
    : nip04.encrypt(acct.walletSk, acct.clientPk, text);
  const tags = [['p', acct.clientPk], ['e', reqEv.id]];
  if (useNip44)
    tags.push(['encryption', 'nip44_v2']);
  send(['EVENT', finalizeEvent({ kind: 23195, created_at: now(), tags, content }, acct.walletSk)]);
}

function onRequest(ev) {
  if (silent || !verifyEvent(ev))
    return;
  const p = ev.tags.find((t) => t[0] === 'p');
  const acct = p && accounts.get(p[1]);
  if (!acct)
    return;
  const exp = ev.tags.find((t) => t[0] === 'expiration');
  if (exp && Number(exp[1]) < now())
    return; // NIP-47: stale requests are ignored
  const encTag = ev.tags.find((t) => t[0] === 'encryption');
  const useNip44 = !!encTag && encTag[1] === 'nip44_v2';
  if (ev.pubkey !== acct.clientPk)
    return respond(acct, ev, useNip44, 'unknown',
      { error: { code: 'UNAUTHORIZED', message: 'no wallet for this key' }, result: null });
  if (useNip44 && !acct.nip44)
    return respond(acct, ev, false, 'unknown',
      { error: { code: 'UNSUPPORTED_ENCRYPTION', message: 'nip04 only' }, result: null });
  let req;
  try {
    req = JSON.parse(useNip44
      ? nip44.decrypt(ev.content, nip44.getConversationKey(acct.walletSk, acct.clientPk))
      : nip04.decrypt(acct.walletSk, acct.clientPk, ev.content));
  } catch {
    return;
  }
  try {
    respond(acct, ev, useNip44, req.method, { error: null, result: handle(acct, req) });
  } catch (e) {
    const err = e && e.code ? e : { code: 'INTERNAL', message: String(e) };
    respond(acct, ev, useNip44, req.method, { error: err, result: null });
  }
}

function maybeReady(state) {
  if (state.eose && pendingOk.size === 0 && !state.printed) {
    state.printed = true;
    const out = {};
    for (const a of accounts.values())
      out[a.name] = `nostr+walletconnect://${a.walletPk}?relay=${encodeURIComponent(relayUrl)}` +
        `&secret=${hex(a.clientSk)}`;
    console.log(JSON.stringify({ accounts: out, relay: relayUrl }));
  }
}

const state = { eose: false, printed: false };
ws.on('open', () => {
  for (const a of accounts.values()) {
    const info = finalizeEvent({
      kind: 13194, created_at: now(), content: METHODS.join(' '),
      tags: [['encryption', a.nip44 ? 'nip44_v2 nip04' : 'nip04']],
    }, a.walletSk);
    pendingOk.add(info.id);
    send(['EVENT', info]);
  }
  send(['REQ', 'nwc', { kinds: [23194], '#p': [...accounts.keys()], since: now() - 10 }]);
});
ws.on('message', (d) => {
  const m = JSON.parse(d.toString());
  if (m[0] === 'EOSE' && m[1] === 'nwc') {
    state.eose = true;
  } else if (m[0] === 'OK' && pendingOk.has(m[1])) {
    if (!m[2]) {
      console.error(`info event refused: ${m[3]}`);
      process.exit(1);
    }
    pendingOk.delete(m[1]);
  } else if (m[0] === 'EVENT' && m[1] === 'nwc') {
    onRequest(m[2]);
  }
  maybeReady(state);
});
// --control: the same methods from stdin, for tests
function onControl(line) {
  let m;
  try {
    m = JSON.parse(line);
  } catch {
    return;
  }
  const acct = [...accounts.values()].find((a) => a.name === m.account);
  try {
    if (!acct)
      throw { code: 'NOT_FOUND', message: `no account ${m.account}` };
    console.log(JSON.stringify({ id: m.id, result: handle(acct, { method: m.method, params: m.params }) }));
  } catch (e) {
    console.log(JSON.stringify({ id: m.id, error: e && e.code ? e : { code: 'INTERNAL', message: String(e) } }));
  }
}
if (control)
  createInterface({ input: process.stdin }).on('line', onControl);

ws.on('error', (e) => {
  console.error(`wallet: ${e.message}`);
  process.exit(1);
});
ws.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
