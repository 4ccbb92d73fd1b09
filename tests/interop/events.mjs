// NIP-01 interop between hearth and nostr-tools on thousands of random
// events built to hit the places where implementations disagree: JSON
// string escaping (C0 controls, DEL, U+2028/2029, NUL), astral characters,
// huge contents, hundreds of tags, timestamps past 2038 up to 2^53-1.
//
//   A  nostr-tools finalizeEvent -> hearth event verify --json: all ok, ids equal
//      (a third of the lines re-encoded with \u escapes, \/ and whitespace,
//      the way other JSON libraries write them: the id must not change)
//   B  templates -> hearth event sign -> nostr-tools verifyEvent/getEventHash,
//      and content/tags/created_at/kind come back exactly
//   C  hearth event id [--json] vs getEventHash/serializeEvent
//   D  strings no UTF-8 can carry (lone surrogates, invalid bytes) are
//      rejected with a reason and do not disturb neighbouring lines
//
// usage: node events.mjs PATH/TO/hearth [count]   (HEARTH_INTEROP_SEED=n)
import { finalizeEvent, getEventHash, getPublicKey, serializeEvent,
  verifyEvent } from 'nostr-tools/pure';
import { Report, bigText, hearthFromArgv, hex, makeRng, randomText,
  runHearth, seedFromEnv, splitLines } from './common.mjs';

const hearth = hearthFromArgv();
const COUNT = Number(process.argv[3] || 3000);
const seed = seedFromEnv();
const r = makeRng(seed);
const rep = new Report('interop-events', seed);

// hearth's documented bounds (include/hearth/event.h); positive cases stay
// inside them, everything else here is plain NIP-01.
const MAX_JSON = 4 << 20;
const MAX_TS = Number.MAX_SAFE_INTEGER; // 2^53-1

function makeKey() {
  for (;;) {
    const sk = r.bytes(32);
    try {
      return { sk, skHex: hex(sk), pk: getPublicKey(sk) };
    } catch {
      // zero or >= the group order: astronomically rare, draw again
    }
  }
}
const keys = Array.from({ length: 16 }, makeKey);

const TS_EDGES = [0, 1, 2147483647, 2147483648, 4294967295, 4294967296,
  253402300799, 1e12, 2 ** 52, MAX_TS - 1, MAX_TS];
function randomCreatedAt() {
  switch (r.int(0, 9)) {
  case 0: return r.pick(TS_EDGES);
  case 1: case 2: return r.int(0, MAX_TS);
  case 3: case 4: return r.int(2 ** 31, 2 ** 34);    // past 2038
  case 5: return r.int(2 ** 34, 2 ** 45);
  default: return r.int(1.6e9, 1.9e9);
  }
}

const KIND_EDGES = [0, 1, 3, 5, 7, 1000, 9999, 10000, 19999, 20000, 29999,
  30000, 39999, 40000, 65534, 65535];
const randomKind = () => (r.chance(0.15) ? r.pick(KIND_EDGES) : r.int(0, 65535));

const ODD_VALUES = ['', ' ', '\u0000', '0', '-0', '1e3', '0x10', 'null',
  'true', '[]', '{}', '["e"]', '{"a":1}', '\\', '"', '\\u0000', '\\"',
  '\u2028\u2029', '\ufeff', '\u00ad', '\ud83d\ude00', '\r\n', '\t',
  'wss://relay.example.com/', 'a'.repeat(64), 'A'.repeat(64)];
function randomValue() {
  switch (r.int(0, 9)) {
  case 0: case 1: return r.pick(ODD_VALUES);
  case 2: return hex(r.bytes(32));
  case 3: return r.chance(0.05) ? randomText(r, r.int(1000, 8000)) : randomText(r, r.int(20, 200));
  default: return randomText(r, r.int(0, 16));
  }
}
const TAG_NAMES = ['e', 'p', 'a', 't', 'd', 'r', 'q', 'k', 'expiration',
  'client', 'nonce', 'emoji', '-', '', 'E', 'P'];
function randomTag() {
  const roll = r.int(0, 99);
  const n = roll < 2 ? 0 : roll < 5 ? r.int(10, 256) : r.int(1, 5);
  const t = [];
  for (let i = 0; i < n; i++)
    t.push(i === 0 && r.chance(0.8) ? r.pick(TAG_NAMES) : randomValue());
  return t;
}
function randomTags() {
  const roll = r.int(0, 99);
  const n = roll < 30 ? 0 : roll < 85 ? r.int(1, 6) : roll < 96 ? r.int(7, 60)
    : r.int(100, 700);                                  // hundreds of tags
  return Array.from({ length: n }, randomTag);
}

function randomContent(i) {
  if (i % 500 === 7)
    return bigText(r, 1 << 20);                         // ~1 MB
  const roll = r.int(0, 99);
  if (roll < 5)
    return '';
  if (roll < 65)
    return randomText(r, r.int(1, 100));
  if (roll < 92)
    return randomText(r, r.int(100, 2000));
  return randomText(r, r.int(2000, 40000));
}

// Fixed cases first, so the interesting edges are always covered whatever
// the seed; the rest is random.
function fixedTemplates() {
  const c0 = String.fromCharCode(...Array.from({ length: 32 }, (_, i) => i));
  const t = (kind, created_at, content, tags) => ({ kind, created_at, content, tags });
  return [
    t(0, 0, '', []),
    t(1, 1700000000, c0 + '\u007f"\\/\u2028\u2029\u0085', [c0.split('')]),
    t(1, 1700000000, 'a\u0000b\u0000', [['\u0000'], ['p', '\u0000\u0000']]),
    t(65535, MAX_TS, '\u{10ffff}\u{1f600}\u{e0041}', [[]]),
    t(30023, 4102444800, 'y2100', [['d', '\u0301\u0302\u0303e\u0301'],
      Array.from({ length: 256 }, (_, i) => String(i))]),
    t(1, 2 ** 32, 'many tags', Array.from({ length: 1000 }, (_, i) => ['t', `tag${i}`])),
    t(1, 2 ** 53 - 2, '\u2028'.repeat(1000) + '\u007f'.repeat(1000), []),
    t(1, 1, '\\'.repeat(3000) + '"'.repeat(3000), [['\\"\\', '\\\\']]),
  ];
}

function makeTemplates(n) {
  const out = fixedTemplates();
  for (let i = out.length; i < n; i++) {
    const tpl = { kind: randomKind(), created_at: randomCreatedAt(),
      content: randomContent(i), tags: randomTags() };
    // stay under the 4 MiB line bound even in the \u-escaped encoding
    while (3 * Buffer.byteLength(JSON.stringify(tpl)) + 400 > MAX_JSON)
      tpl.tags.length ? tpl.tags.pop() : (tpl.content = tpl.content.slice(0, tpl.content.length >> 1));
    out.push(tpl);
  }
  return out;
}

// JSON as other libraries write it: non-ASCII and controls as \u escapes in
// either hex case, "/" as "\/", whitespace between tokens, any key order.
const ws = () => (r.chance(0.8) ? '' : r.pick([' ', '\t', '  ', ' \t ']));
const SHORT = { 8: 'b', 9: 't', 10: 'n', 12: 'f', 13: 'r' };
function u4(c) {
  const h = c.toString(16).padStart(4, '0');
  return '\\u' + (r.chance(0.5) ? h : h.toUpperCase());
}
function altString(s) {
  let o = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c)
      o += r.chance(0.8) ? '\\' + s[i] : u4(c);
    else if (c < 0x20)
      o += SHORT[c] && r.chance(0.5) ? '\\' + SHORT[c] : u4(c);
    else if (c === 0x2f)
      o += r.chance(0.5) ? '\\/' : '/';
    else if (c >= 0xd800 && c <= 0xdbff) {
      // a pair is escaped as two \u escapes or written raw, never half/half
      const pair = s.slice(i, i + 2);
      o += r.chance(0.5) ? u4(c) + u4(s.charCodeAt(i + 1)) : pair;
      i++;
    } else if (c >= 0x7f && r.chance(0.5))
      o += u4(c);
    else
      o += s[i];
  }
  return o + '"';
}
function altJson(ev) {
  const enc = {
    id: () => altString(ev.id), pubkey: () => altString(ev.pubkey),
    sig: () => altString(ev.sig), kind: () => String(ev.kind),
    created_at: () => String(ev.created_at), content: () => altString(ev.content),
    tags: () => '[' + ws() + ev.tags.map((t) => '[' + ws() +
      t.map((v) => altString(v)).join(ws() + ',' + ws()) + ws() + ']').join(ws() + ',' + ws()) + ws() + ']',
  };
  const order = Object.keys(enc);
  for (let i = order.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return ws() + '{' + ws() + order.map((k) => `"${k}"` + ws() + ':' + ws() + enc[k]())
    .join(ws() + ',' + ws()) + ws() + '}' + ws();
}

const canon = (ev) => JSON.stringify([ev.pubkey, ev.created_at, ev.kind, ev.tags, ev.content]);
const toInput = (lines) => Buffer.from(lines.join('\n') + '\n', 'utf8');

const templates = makeTemplates(COUNT);
const t0 = Date.now();

// ---- A: nostr-tools signs, hearth verifies --------------------------------
const signed = templates.map((t, i) =>
  finalizeEvent({ ...t, tags: t.tags.map((x) => [...x]) }, keys[i % keys.length].sk));
let nAlt = 0;
const linesA = signed.map((ev) => {
  if (!r.chance(1 / 3))
    return JSON.stringify(ev);
  const s = altJson(ev);
  // the re-encoder itself must be right, or a failure below means nothing
  if (!rep.ok(canon(JSON.parse(s)) === canon(ev), 'test bug: altJson changed the event', s))
    return JSON.stringify(ev);
  nAlt++;
  return s;
});
{
  const res = runHearth(hearth, ['event', 'verify', '--json'], toInput(linesA));
  const out = splitLines(res.stdout);
  rep.ok(res.status === 0, `A: hearth event verify exit ${res.status}`, res.stderr.toString());
  rep.ok(out.length === signed.length, `A: ${out.length} verdicts for ${signed.length} events`);
  for (let i = 0; i < Math.min(out.length, signed.length); i++) {
    const v = JSON.parse(out[i]);
    rep.ok(v.line === i + 1 && v.ok === true && v.id === signed[i].id,
      `A: event ${i} signed by nostr-tools: hearth says ${out[i]}`, linesA[i]);
  }
}

// ---- B: hearth signs, nostr-tools verifies --------------------------------
const key = keys[0];
let nDefaulted = 0;
const tplLines = templates.map((t, i) => {
  const o = {};
  const fields = ['kind', 'content', 'tags', 'created_at'];
  if (i % 97 === 5) { fields.pop(); nDefaulted++; }   // created_at defaults to now
  if (i % 89 === 6 && t.tags.length === 0) fields.splice(2, 1);  // tags default to []
  for (let k = fields.length - 1; k > 0; k--) {
    const j = r.int(0, k);
    [fields[k], fields[j]] = [fields[j], fields[k]];
  }
  for (const f of fields)
    o[f] = t[f];
  return JSON.stringify(o);
});
{
  const before = Math.floor(Date.now() / 1000);
  const res = runHearth(hearth, ['event', 'sign', '--key', key.skHex], toInput(tplLines));
  const after = Math.ceil(Date.now() / 1000);
  const out = splitLines(res.stdout);
  rep.ok(res.status === 0 && res.stderr.length === 0,
    `B: hearth event sign exit ${res.status}`, res.stderr.toString());
  rep.ok(out.length === templates.length, `B: ${out.length} signed events for ${templates.length} templates`);
  for (let i = 0; i < Math.min(out.length, templates.length); i++) {
    const t = templates[i];
    const tplHas = JSON.parse(tplLines[i]);
    let ev;
    try {
      ev = JSON.parse(out[i]);
    } catch {
      rep.ok(false, `B: line ${i + 1} of hearth's output is not JSON`, out[i]);
      continue;
    }
    const ts = 'created_at' in tplHas ? ev.created_at === t.created_at
      : ev.created_at >= before && ev.created_at <= after;
    rep.ok(verifyEvent(ev), `B: nostr-tools rejects hearth's signature on template ${i}`, tplLines[i]);
    rep.ok(getEventHash(ev) === ev.id, `B: id differs from nostr-tools getEventHash on template ${i}`, tplLines[i]);
    rep.ok(ev.pubkey === key.pk, `B: pubkey ${ev.pubkey} is not the signing key's`);
    rep.ok(ev.content === t.content && ev.kind === t.kind && ts &&
      JSON.stringify(ev.tags) === JSON.stringify(t.tags),
      `B: fields did not round-trip on template ${i}`, tplLines[i]);
    // hearth's own JSON must be byte-for-byte what JSON.stringify makes of
    // the same object: that is the escaping the ids depend on
    const js = JSON.stringify({ id: ev.id, pubkey: ev.pubkey, created_at: ev.created_at,
      kind: ev.kind, tags: ev.tags, content: ev.content, sig: ev.sig });
    rep.ok(out[i] === js, `B: hearth's JSON differs from JSON.stringify on template ${i}`, out[i]);
  }
}

// ---- C: hearth event id vs getEventHash -----------------------------------
{
  const res = runHearth(hearth, ['event', 'id', '--json'], toInput(linesA));
  const out = splitLines(res.stdout);
  rep.ok(res.status === 0 && out.length === signed.length,
    `C: hearth event id --json exit ${res.status}, ${out.length} lines`, res.stderr.toString());
  for (let i = 0; i < Math.min(out.length, signed.length); i++) {
    const v = JSON.parse(out[i]);
    rep.ok(v.id === getEventHash(signed[i]) && v.serialization === serializeEvent(signed[i]),
      `C: event ${i}: hearth id/serialization differ from nostr-tools`, linesA[i]);
  }
  // without id and sig, as a client computing an id before signing would
  const unsigned = signed.map(({ pubkey, created_at, kind, tags, content }) =>
    JSON.stringify({ pubkey, created_at, kind, tags, content }));
  const res2 = runHearth(hearth, ['event', 'id'], toInput(unsigned));
  const ids = splitLines(res2.stdout);
  rep.ok(res2.status === 0 && ids.length === signed.length,
    `C: hearth event id exit ${res2.status}, ${ids.length} lines`, res2.stderr.toString());
  for (let i = 0; i < Math.min(ids.length, signed.length); i++)
    rep.ok(ids[i] === signed[i].id, `C: unsigned event ${i}: hearth id ${ids[i]}`, unsigned[i]);
}

// ---- D: what UTF-8 cannot carry --------------------------------------------
// Decision: hearth is strict UTF-8. A lone UTF-16 surrogate (JSON "\ud800")
// has no UTF-8 encoding; nostr-tools would quietly hash it as U+FFFD
// (TextEncoder), so a relay accepting it would store text that disagrees
// with its own id computation across implementations. hearth rejects such
// events with a reason instead. Raw bytes that are not UTF-8 likewise.
const BAD_STRINGS = ['\ud800', 'a\udbffb', '\udc00', '\ude00\ud83d', '\ud83dA',
  'x'.repeat(100) + '\udfff'];
const BAD_BYTES = [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82],
  [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]];
const REASON = /^invalid: .*(UTF-8|surrogate)/;
{
  const good = signed.slice(0, 40).filter((ev) => Buffer.byteLength(JSON.stringify(ev)) < 100000);
  const cases = [];   // {line: Buffer, bad: bool}
  let g = 0;
  const pushGood = () => cases.push({ line: Buffer.from(JSON.stringify(good[g++ % good.length])), bad: false });
  for (const s of BAD_STRINGS) {
    for (const where of ['content', 'tag']) {
      const tpl = where === 'content' ? { kind: 1, created_at: 1700000000, content: s, tags: [] }
        : { kind: 1, created_at: 1700000000, content: 'ok', tags: [['t', s]] };
      const ev = finalizeEvent(tpl, keys[1].sk);
      const line = JSON.stringify(ev);
      rep.ok(/\\ud[89a-f]/.test(line), 'test bug: JSON.stringify did not escape a lone surrogate', line);
      pushGood();
      cases.push({ line: Buffer.from(line), bad: true });
    }
  }
  for (const bytes of BAD_BYTES) {
    const ev = finalizeEvent({ kind: 1, created_at: 1700000000, content: 'a@b', tags: [] }, keys[1].sk);
    const [pre, post] = JSON.stringify(ev).split('a@b');
    pushGood();
    cases.push({ line: Buffer.concat([Buffer.from(pre + 'a'), Buffer.from(bytes), Buffer.from('b' + post)]), bad: true });
  }
  pushGood();
  const input = Buffer.concat(cases.flatMap((c) => [c.line, Buffer.from('\n')]));

  const res = runHearth(hearth, ['event', 'verify', '--json'], input);
  const out = splitLines(res.stdout);
  rep.ok(res.status === 1, `D: verify exit ${res.status} with bad lines (want 1)`);
  rep.ok(out.length === cases.length, `D: ${out.length} verdicts for ${cases.length} lines`);
  for (let i = 0; i < Math.min(out.length, cases.length); i++) {
    const v = JSON.parse(out[i]);
    const want = cases[i].bad ? v.ok === false && REASON.test(v.reason) : v.ok === true;
    rep.ok(v.line === i + 1 && want, `D: line ${i + 1} (${cases[i].bad ? 'bad' : 'good'}): ${out[i]}`,
      cases[i].line.toString('latin1'));
  }

  // the same through sign and id, which take unsigned input
  const tpls = cases.map((c) => {
    const o = JSON.parse(c.line.toString('utf8'));   // fine for the good ones
    return c.bad ? Buffer.from(c.line.toString('latin1').replace(/"(id|pubkey|sig)":"[0-9a-f]+",?/g, '')
      .replace(/,}$/, '}'), 'latin1')
      : Buffer.from(JSON.stringify({ kind: o.kind, content: o.content, tags: o.tags, created_at: o.created_at }));
  });
  const sres = runHearth(hearth, ['event', 'sign', '--key', key.skHex],
    Buffer.concat(tpls.flatMap((b) => [b, Buffer.from('\n')])));
  const errs = splitLines(sres.stderr);
  const wantErr = cases.map((c, i) => (c.bad ? i + 1 : 0)).filter(Boolean);
  rep.ok(sres.status === 1, `D: sign exit ${sres.status} with bad lines (want 1)`);
  rep.ok(splitLines(sres.stdout).length === cases.length - wantErr.length,
    `D: sign printed ${splitLines(sres.stdout).length} events, want ${cases.length - wantErr.length}`);
  rep.ok(errs.length === wantErr.length && errs.every((e, k) => {
    const m = /^hearth: error: line (\d+): (.*)$/.exec(e);
    return m && Number(m[1]) === wantErr[k] && REASON.test(m[2]);
  }), 'D: sign did not report exactly the bad lines with a reason', errs.join('\n'));
}

const secs = ((Date.now() - t0) / 1000).toFixed(1);
const bytes = linesA.reduce((a, s) => a + Buffer.byteLength(s), 0);
rep.finish(`${signed.length} events (${(bytes / 1e6).toFixed(1)} MB, ${nAlt} re-encoded), ` +
  `A nostr-tools->hearth verify, B hearth sign->nostr-tools (${nDefaulted} with default created_at), ` +
  `C event id, D ${BAD_STRINGS.length * 2 + BAD_BYTES.length} non-UTF-8 lines rejected; ${secs}s`);
