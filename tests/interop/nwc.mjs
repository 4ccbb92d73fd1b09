// NIP-47 Nostr Wallet Connect end to end: hearth's client (through
// nwc_driver.c) against the test wallet service nwc_wallet.mjs, both on a
// `hearth relay`. The wallet stands in for a real one (Alby Hub, Mutiny,
// LND via NWC); the client code is the same either way.
//   - provider makes an invoice (NIP-44: its wallet advertises nip44_v2),
//     customer pays it (NIP-04: its wallet advertises only nip04), provider
//     looks it up: settled, SHA-256(preimage) == payment_hash; balances moved
//   - paying again fails; a second invoice above the balance gives
//     INSUFFICIENT_BALANCE with a clear sentence
//   - a wallet that never answers: a timeout sentence
//   - a connection file with mode 0644 is refused; bad URIs are refused
//   - the secret never appears in anything the driver prints
//
// usage: node nwc.mjs PATH/TO/hearth PATH/TO/nwc_driver
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { hearthFromArgv } from './common.mjs';
import { Checks, cleanupDir, hearthSpawn, here, startHearthRelay,
  tmpDir } from './pool_common.mjs';

const hearth = hearthFromArgv();
const driver = process.argv[3];
const T = new Checks('interop-nwc');
if (!driver || !existsSync(driver)) {
  T.ok(false, `nwc_driver not found: ${driver}`);
  await T.finish();
}
const dir = tmpDir('nwc');
T.defer(cleanupDir(dir));
const secrets = [];

function connFile(name, uri, mode = 0o600) {
  const p = join(dir, name);
  writeFileSync(p, uri + '\n', { mode });
  chmodSync(p, mode);
  const s = /secret=([0-9a-f]+)/.exec(uri);
  if (s)
    secrets.push(s[1]);
  return p;
}

// the driver reads no stdin and may exit at once (a refused file), so
// stdin is closed from the start rather than written to
async function run(args, ms) {
  const c = hearthSpawn(driver, args);
  c.p.stdin.on('error', () => {});
  c.p.stdin.end();
  const t = setTimeout(() => c.kill('SIGKILL'), ms);
  await c.exited;
  clearTimeout(t);
  return { code: c.code, out: c.lines, err: c.stderr };
}

async function nwc(file, args, ms = 30000) {
  const r = await run([file, ...args], ms);
  const all = r.out.join('\n') + r.err;
  T.ok(!secrets.some((s) => all.includes(s)), `${args[0]}: output has no secret`);
  let j = null;
  try {
    j = JSON.parse(r.out.at(-1));
  } catch { /* checked by the caller */ }
  return { ...r, j };
}

async function startWallet(relayUrl, extra) {
  const w = hearthSpawn(process.execPath, [join(here, 'nwc_wallet.mjs'), relayUrl, ...extra]);
  T.defer(() => w.kill());
  await w.waitFor((l) => l.some((x) => x.startsWith('{')), 15000, 'wallet ready');
  return JSON.parse(w.lines.find((x) => x.startsWith('{')));
}

const relay = await startHearthRelay(hearth, join(dir, 'relay'), 0);
T.defer(() => relay.kill());
const w = await startWallet(relay.url, ['provider=0', 'customer=50000/nip04']);
const prov = connFile('provider.nwc', w.accounts.provider);
const cust = connFile('customer.nwc', w.accounts.customer);

await T.step('invoice, payment, lookup', async () => {
  const inv = await nwc(prov, ['make_invoice', '21000', 'hearth job 1', '600']);
  T.ok(inv.code === 0 && inv.j?.ok && inv.j.invoice.startsWith('lnbcrt') &&
    /^[0-9a-f]{64}$/.test(inv.j.payment_hash), 'make_invoice gives bolt11 + hash', inv);
  if (!inv.j?.ok)
    return;
  const before = await nwc(prov, ['lookup_invoice', inv.j.payment_hash]);
  T.ok(before.j?.ok && before.j.settled === false && !before.j.preimage,
    'unpaid invoice is not settled', before.j);
  const pay = await nwc(cust, ['pay_invoice', inv.j.invoice, inv.j.payment_hash]);
  T.ok(pay.code === 0 && pay.j?.ok && pay.j.preimage, 'pay_invoice gives a preimage', pay);
  const hash = pay.j?.preimage &&
    createHash('sha256').update(Buffer.from(pay.j.preimage, 'hex')).digest('hex');
  T.ok(hash === inv.j.payment_hash, 'SHA-256(preimage) == payment_hash');
  const after = await nwc(prov, ['lookup_invoice', inv.j.payment_hash]);
  T.ok(after.j?.ok && after.j.settled && after.j.preimage === pay.j?.preimage &&
    after.j.amount === 21000 && after.j.settled_at > 0, 'lookup: settled with the preimage', after.j);
  const byInv = await nwc(prov, ['lookup_invoice', '--invoice', inv.j.invoice]);
  T.ok(byInv.j?.ok && byInv.j.settled, 'lookup by bolt11', byInv.j);
  const pb = await nwc(prov, ['get_balance']);
  const cb = await nwc(cust, ['get_balance']);
  T.ok(pb.j?.balance === 21000 && cb.j?.balance === 29000, 'balances moved',
    { provider: pb.j, customer: cb.j });
  const again = await nwc(cust, ['pay_invoice', inv.j.invoice]);
  T.ok(again.code === 1 && again.j?.code === 'PAYMENT_FAILED', 'paying twice fails', again.j);
});

await T.step('insufficient balance, not found, get_info', async () => {
  const inv = await nwc(prov, ['make_invoice', '100000', 'too much', '600']);
  const pay = await nwc(cust, ['pay_invoice', inv.j?.invoice ?? 'lnbcrt1x']);
  T.ok(pay.code === 1 && pay.j?.err === 'EPERM' && pay.j.code === 'INSUFFICIENT_BALANCE' &&
    /enough funds/.test(pay.j.message), 'INSUFFICIENT_BALANCE as a sentence', pay.j);
  const cb = await nwc(cust, ['get_balance']);
  T.ok(cb.j?.balance === 29000, 'a failed payment moves nothing', cb.j);
  const nf = await nwc(prov, ['lookup_invoice', randomBytes(32).toString('hex')]);
  T.ok(nf.j?.err === 'ENOTFOUND' && nf.j.code === 'NOT_FOUND', 'unknown hash: NOT_FOUND', nf.j);
  const info = await nwc(prov, ['get_info']);
  T.ok(info.j?.ok && /make_invoice/.test(info.j.methods), 'get_info lists methods', info.j);
  const forced = await nwc(cust, ['--enc', 'nip44', 'get_balance']);
  T.ok(forced.j?.code === 'UNSUPPORTED_ENCRYPTION', 'NIP-44 to a NIP-04 wallet refused', forced.j);
});

await T.step('a wallet that does not answer', async () => {
  const silent = await startWallet(relay.url, ['mute=1000', '--silent']);
  const f = connFile('mute.nwc', silent.accounts.mute);
  const t0 = Date.now();
  const r = await nwc(f, ['--timeout', '2000', 'get_balance']);
  T.ok(r.code === 1 && r.j?.err === 'ETIMEDOUT' && /did not answer/.test(r.j.message) &&
    r.j.message.includes(relay.url.replace(/\/$/, '')), 'timeout sentence names the relay', r.j);
  T.ok(Date.now() - t0 < 10000, 'timeout is prompt');
});

await T.step('file mode and bad URIs refused', async () => {
  const open = connFile('open.nwc', w.accounts.provider, 0o644);
  const r = await nwc(open, ['get_balance']);
  T.ok(r.code === 1 && r.j?.err === 'EPERM' && /chmod 600/.test(r.j.message),
    'mode 0644 refused', r.j);
  const pk = /:\/\/([0-9a-f]{64})/.exec(w.accounts.provider)[1];
  const sec = randomBytes(32).toString('hex');
  const bad = [
    `nostr+walletconnect://${pk}?relay=${encodeURIComponent(relay.url)}`,
    `nostr+walletconnect://${pk}?secret=${sec}`,
    `nostr+walletconnect://${pk.slice(2)}?relay=ws://x&secret=${sec}`,
    `http://${pk}?relay=ws://x&secret=${sec}`,
    `nostr+walletconnect://${pk}?relay=https://x&secret=${sec}`,
    `nostr+walletconnect://${pk}?relay=ws://x&secret=${sec}&secret=${sec}`,
    `nostr+walletconnect://${pk}?relay=ws://x&secret=${sec.slice(1)}`,
  ];
  for (const [i, uri] of bad.entries()) {
    const f = connFile(`bad${i}.nwc`, uri);
    const b = await nwc(f, ['check']);
    T.ok(b.code === 1 && b.j?.err === 'EINVAL' && /^invalid: /.test(b.j.message),
      `bad URI ${i} refused`, b.j);
  }
});

await T.finish();
