// NIP-44 v2 interop between hearth and nostr-tools: random plaintexts from
// 1 byte to 100 KB (both sides of the 65535/65536 extended-prefix switch
// and the padding-chunk boundaries) encrypted by one side and decrypted by
// the other, in both directions, over several key pairs. One hearth process
// per message, as a shell user would run it.
//
// nostr-tools takes plaintext as a JS string (UTF-8 encoded inside), so
// every plaintext here is well-formed Unicode; arbitrary bytes are covered
// by hearth's own unit tests.
//
// usage: node nip44.mjs PATH/TO/hearth [messages-per-direction]
import { getPublicKey, nip44 } from 'nostr-tools';
import { Report, hearthFromArgv, hex, makeRng, randomText, runHearth, seedFromEnv }
  from './common.mjs';

const hearth = hearthFromArgv();
const COUNT = Number(process.argv[3] || 300);
const seed = seedFromEnv();
const r = makeRng(seed ^ 0x44);
const rep = new Report('interop-nip44', seed);
const v2 = nip44.v2;

// nostr-tools learnt the extended length prefix (plaintexts >= 65536 bytes,
// nips PR #1907) in 2.x; older versions throw for them. Detect rather than
// assume, so pinning another version narrows the test instead of failing.
let extended = true;
try {
  v2.utils.pad('a'.repeat(65536));
} catch {
  extended = false;
}
const MAX = extended ? 100 * 1024 : 65535;

function makeKey() {
  for (;;) {
    const sk = r.bytes(32);
    try {
      return { sk, skHex: hex(sk), pk: getPublicKey(sk) };
    } catch {
      // out of range: draw again
    }
  }
}
const pairs = Array.from({ length: 6 }, () => {
  const hearthKey = makeKey();
  const jsKey = makeKey();
  return { hearthKey, jsKey, ck: v2.utils.getConversationKey(jsKey.sk, hearthKey.pk) };
});

// Lengths where padding or framing changes, plus log-uniform random ones.
const EDGES = [1, 2, 31, 32, 33, 63, 64, 65, 255, 256, 257, 320, 1023, 1024,
  1025, 8192, 8193, 32768, 32769, 65535, 65536, 65537, 81920, 81921, 98304,
  MAX].filter((n) => n <= MAX);

function lengthFor(i) {
  if (i < EDGES.length)
    return EDGES[i];
  return Math.min(MAX, Math.max(1, Math.round(Math.exp(r.float() * Math.log(MAX)))));
}

// A well-formed string of exactly `bytes` UTF-8 bytes.
function plaintextOf(bytes) {
  let s = '';
  let n = 0;
  while (n < bytes) {
    const chunk = randomText(r, Math.min(4096, Math.max(8, (bytes - n) >> 1)));
    s += chunk;
    n += Buffer.byteLength(chunk);
  }
  // cut back whole code points, then top up with ASCII
  const cps = [...s];
  while (n > bytes)
    n -= Buffer.byteLength(cps.pop());
  return cps.join('') + 'x'.repeat(bytes - n);
}

function checkShape(payload, ptLen, what) {
  // version(1) + nonce(32) + prefix(2 or 6) + padded + mac(32)
  const raw = Buffer.from(payload, 'base64');
  const want = 1 + 32 + (ptLen >= 65536 ? 6 : 2) + v2.utils.calcPaddedLen(ptLen) + 32;
  rep.ok(raw.length === want && raw[0] === 2, `${what}: payload of ${raw.length} bytes, want ${want}`);
}

const t0 = Date.now();
let maxSeen = 0;
let nExt = 0;
let nBom = 0;

// ---- nostr-tools encrypts, hearth decrypts -------------------------------
for (let i = 0; i < COUNT; i++) {
  const len = lengthFor(i);
  const pt = plaintextOf(len);
  const { hearthKey, jsKey, ck } = pairs[i % pairs.length];
  const payload = v2.encrypt(pt, ck);
  checkShape(payload, len, `nostr-tools encrypt ${len}`);
  const res = runHearth(hearth, ['nip44', 'decrypt', '--from', jsKey.pk, '--key', hearthKey.skHex],
    Buffer.from(payload + '\n'));
  const want = Buffer.from(pt, 'utf8');
  rep.ok(res.status === 0 && res.stdout.equals(want),
    `nostr-tools -> hearth: ${len}-byte plaintext: exit ${res.status}, ` +
    `${res.stdout.length} bytes out, ${res.stderr.toString().trim()}`,
    JSON.stringify({ conversation_key: hex(ck), payload: payload.slice(0, 200) }));
  maxSeen = Math.max(maxSeen, len);
  nExt += len >= 65536;
}

// ---- hearth encrypts, nostr-tools decrypts -------------------------------
for (let i = 0; i < COUNT; i++) {
  const len = lengthFor(i);
  const pt = plaintextOf(len);
  const { hearthKey, jsKey, ck } = pairs[i % pairs.length];
  const res = runHearth(hearth, ['nip44', 'encrypt', '--to', jsKey.pk, '--key', hearthKey.skHex],
    Buffer.from(pt, 'utf8'));
  const out = res.stdout.toString();
  if (!rep.ok(res.status === 0 && /^[A-Za-z0-9+/]+=*\n$/.test(out),
    `hearth encrypt ${len}: exit ${res.status}, want one base64 line`, res.stderr.toString()))
    continue;
  const payload = out.slice(0, -1);
  checkShape(payload, len, `hearth encrypt ${len}`);
  let got;
  try {
    got = v2.decrypt(payload, ck);
  } catch (e) {
    got = `<nostr-tools: ${e.message}>`;
  }
  // nostr-tools decodes with a default TextDecoder, which drops one leading
  // U+FEFF (BOM); the payload itself is right, the length check above
  // covers those bytes.
  const bom = pt.startsWith('\ufeff');
  nBom += bom;
  rep.ok(got === (bom ? pt.slice(1) : pt), `hearth -> nostr-tools: ${len}-byte plaintext does not come back ` +
    `(${got.length} of ${pt.length} UTF-16 units back)`,
    JSON.stringify({ conversation_key: hex(ck), hearth_sk: hearthKey.skHex, peer_pk: jsKey.pk,
      plaintext_b64: Buffer.from(pt).toString('base64'), payload }));
}

// ---- a damaged nostr-tools payload is refused, with a reason -------------
{
  const { hearthKey, jsKey, ck } = pairs[0];
  const payload = v2.encrypt('attack at dawn', ck);
  const raw = Buffer.from(payload, 'base64');
  const spots = { nonce: 5, ciphertext: 40, mac: raw.length - 3 };
  for (const [where, at] of Object.entries(spots)) {
    const bad = Buffer.from(raw);
    bad[at] ^= 0x10;
    const res = runHearth(hearth, ['nip44', 'decrypt', '--from', jsKey.pk, '--key', hearthKey.skHex],
      Buffer.from(bad.toString('base64')));
    rep.ok(res.status === 1 && res.stdout.length === 0 &&
      /^hearth: error: \S/.test(res.stderr.toString()),
      `flipped ${where} bit: exit ${res.status}, stderr ${res.stderr.toString().trim()}`);
  }
  // the wrong peer key gives a different conversation key: MAC failure
  const res = runHearth(hearth, ['nip44', 'decrypt', '--from', pairs[1].jsKey.pk, '--key',
    hearthKey.skHex], Buffer.from(payload));
  rep.ok(res.status === 1 && res.stdout.length === 0, `wrong peer: exit ${res.status}`);
}

const secs = ((Date.now() - t0) / 1000).toFixed(1);
rep.finish(`${COUNT} messages each way, 1..${maxSeen} bytes, ${nExt} per direction with the ` +
  `extended prefix${extended ? '' : ' (nostr-tools lacks it: capped at 65535)'}, ` +
  `${pairs.length} key pairs, ${nBom} with a leading BOM that nostr-tools drops; ${secs}s`);
