// Tampered events: flip one bit in the id, sig, content, pubkey, created_at,
// kind or a tag of events signed by nostr-tools and by hearth, and require
// hearth event verify to reject each with the precise reason:
//   a changed field under the old id  -> "invalid: event id does not match its content"
//   a changed sig, or a changed field with the id recomputed (what an
//   attacker who cannot sign would do) -> "invalid: bad signature"
// nostr-tools must reject every tampered event too (otherwise the tamper
// was a no-op and the case proves nothing), and the untouched originals,
// interleaved with them, must still pass.
//
// usage: node tampered.mjs PATH/TO/hearth [events]   (HEARTH_INTEROP_SEED=n)
import { finalizeEvent, getEventHash, getPublicKey, verifyEvent } from 'nostr-tools/pure';
import { Report, hearthFromArgv, hex, makeRng, randomText, runHearth, seedFromEnv,
  splitLines } from './common.mjs';

const hearth = hearthFromArgv();
const COUNT = Number(process.argv[3] || 300);
const seed = seedFromEnv();
const r = makeRng(seed ^ 0x7a3e);
const rep = new Report('interop-tampered', seed);

const BAD_ID = 'invalid: event id does not match its content';
const BAD_SIG = 'invalid: bad signature';

const sk = r.bytes(32);
const skHex = hex(sk);
const pk = getPublicKey(sk);

function template() {
  const tags = [];
  for (let i = r.int(0, 4); i > 0; i--)
    tags.push([r.pick(['e', 'p', 't', 'd']), randomText(r, r.int(0, 30))]);
  return { kind: r.int(0, 65535), created_at: r.int(0, Number.MAX_SAFE_INTEGER),
    content: randomText(r, r.int(0, 300)), tags };
}

function flipHex(h) {
  const b = Buffer.from(h, 'hex');
  const bit = r.int(0, b.length * 8 - 1);
  b[bit >> 3] ^= 1 << (bit & 7);
  return b.toString('hex');
}

// Flip one bit of one code point, keeping the string well-formed (a bit
// flip that produced a lone surrogate would test UTF-8 strictness instead).
function flipText(s) {
  const cps = [...s];
  if (cps.length === 0)
    return String.fromCharCode(1 << r.int(0, 6));
  for (;;) {
    const i = r.int(0, cps.length - 1);
    const cp = cps[i].codePointAt(0);
    const bits = Math.max(1, Math.floor(Math.log2(cp)) + 1);
    const flipped = cp ^ (1 << r.int(0, bits - 1));
    if (flipped > 0x10ffff || (flipped >= 0xd800 && flipped <= 0xdfff))
      continue;
    cps[i] = String.fromCodePoint(flipped);
    return cps.join('');
  }
}

// JS bit operators truncate to 32 bits; timestamps go up to 2^53-1
const flipLowBit = (n) => (n % 2 ? n - 1 : n + 1);
const clone = (ev) => ({ ...ev, tags: ev.tags.map((t) => [...t]) });
const rehash = (ev) => ({ ...ev, id: getEventHash(ev) });

// each returns the tampered event and the reason hearth must give
const TAMPERS = {
  id: (ev) => [{ ...clone(ev), id: flipHex(ev.id) }, BAD_ID],
  sig: (ev) => [{ ...clone(ev), sig: flipHex(ev.sig) }, BAD_SIG],
  content: (ev) => [{ ...clone(ev), content: flipText(ev.content) }, BAD_ID],
  pubkey: (ev) => [{ ...clone(ev), pubkey: flipHex(ev.pubkey) }, BAD_ID],
  created_at: (ev) => [{ ...clone(ev), created_at: flipLowBit(ev.created_at) }, BAD_ID],
  kind: (ev) => [{ ...clone(ev), kind: ev.kind ^ (1 << r.int(0, 15)) }, BAD_ID],
  tag: (ev) => {
    const e = clone(ev);
    if (e.tags.length === 0)
      e.tags.push(['t', 'x']);
    else {
      const t = e.tags[r.int(0, e.tags.length - 1)];
      const k = r.int(0, t.length - 1);
      t[k] = flipText(t[k]);
    }
    return [e, BAD_ID];
  },
  'content+rehash': (ev) => [rehash({ ...clone(ev), content: flipText(ev.content) }), BAD_SIG],
  'pubkey+rehash': (ev) => [rehash({ ...clone(ev), pubkey: flipHex(ev.pubkey) }), BAD_SIG],
  'created_at+rehash': (ev) => [rehash({ ...clone(ev), created_at: flipLowBit(ev.created_at) }), BAD_SIG],
};

// half signed by nostr-tools, half by hearth
const tpls = Array.from({ length: COUNT }, template);
const half = COUNT >> 1;
const originals = tpls.slice(0, half).map((t) => finalizeEvent(clone(t), sk));
{
  const input = Buffer.from(tpls.slice(half).map((t) => JSON.stringify(t)).join('\n') + '\n');
  const res = runHearth(hearth, ['event', 'sign', '--key', skHex], input);
  const out = splitLines(res.stdout);
  rep.ok(res.status === 0 && out.length === COUNT - half,
    `hearth event sign exit ${res.status}, ${out.length} events`, res.stderr.toString());
  for (const line of out) {
    const ev = JSON.parse(line);
    rep.ok(ev.pubkey === pk && verifyEvent(JSON.parse(line)), 'nostr-tools rejects a hearth event', line);
    originals.push(ev);
  }
}

const cases = [];   // {ev, expect: null (ok) | reason, what}
for (const ev of originals) {
  cases.push({ ev, expect: null, what: 'original' });
  for (const [what, f] of Object.entries(TAMPERS)) {
    const [t, expect] = f(ev);
    const { id, pubkey, created_at, kind, tags, content, sig } = t;
    const bare = { id, pubkey, created_at, kind, tags, content, sig };
    if (!rep.ok(!verifyEvent(JSON.parse(JSON.stringify(bare))),
      `test bug: nostr-tools accepts tampered (${what})`, bare))
      continue;
    cases.push({ ev: bare, expect, what });
  }
}
// a valid signature from the same key, but over another event
for (let i = 1; i < originals.length; i++)
  cases.push({ ev: { ...clone(originals[i]), sig: originals[i - 1].sig }, expect: BAD_SIG,
    what: 'sig of another event' });
// shuffle so each verdict depends on its own line only
for (let i = cases.length - 1; i > 0; i--) {
  const j = r.int(0, i);
  [cases[i], cases[j]] = [cases[j], cases[i]];
}

const input = Buffer.from(cases.map((c) => JSON.stringify(c.ev)).join('\n') + '\n');
const res = runHearth(hearth, ['event', 'verify', '--json'], input);
const out = splitLines(res.stdout);
rep.ok(res.status === 1, `hearth event verify exit ${res.status} (want 1)`, res.stderr.toString());
rep.ok(out.length === cases.length, `${out.length} verdicts for ${cases.length} events`);
const byWhat = {};
for (let i = 0; i < Math.min(out.length, cases.length); i++) {
  const v = JSON.parse(out[i]);
  const c = cases[i];
  const good = v.line === i + 1 && (c.expect === null ? v.ok === true && v.id === c.ev.id
    : v.ok === false && v.reason === c.expect);
  byWhat[c.what] = (byWhat[c.what] || 0) + 1;
  rep.ok(good, `${c.what}: want ${c.expect ?? 'ok'}, hearth says ${out[i]}`, JSON.stringify(c.ev));
}

// the plain-text verdict format carries the same reason
{
  const c = cases.find((x) => x.expect === BAD_SIG);
  const res2 = runHearth(hearth, ['event', 'verify'], Buffer.from(JSON.stringify(c.ev) + '\n'));
  rep.ok(res2.status === 1 && res2.stdout.toString().startsWith(`line 1: ${BAD_SIG}`),
    'plain verify output', res2.stdout.toString());
}

rep.finish(`${cases.length} events (${originals.length} originals, half by nostr-tools, half by hearth; ` +
  [...Object.keys(TAMPERS), 'sig of another event'].map((k) => `${k} ${byWhat[k] || 0}`).join(', ') + ')');
