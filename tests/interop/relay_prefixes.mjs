// Every way `hearth relay` refuses something, seen on the wire: the OK,
// CLOSED or NOTICE message and its NIP-01 machine-readable prefix.
//
//   duplicate  invalid (id, sig, future, expired, kind 22242, malformed,
//   too many filters, message too large)  pow  blocked  rate-limited
//   (connection, author, subscriptions)  auth-required  restricted
//   error (slow reader)
//
// usage: node relay_prefixes.mjs PATH/TO/hearth
import { finalizeEvent, getPublicKey } from 'nostr-tools/pure';
import { minePow } from 'nostr-tools/nip13';
import { Report, hearthFromArgv } from './common.mjs';
import { RawClient, cleanup, makeEvent, newKey, now, sleep,
  startRelay } from './relay_common.mjs';

const hearth = hearthFromArgv();
const rep = new Report('interop-relay_prefixes', 0);
const relays = [];
const seen = new Set();

async function relayWith(args) {
  const r = await startRelay(hearth, args);
  relays.push(r);
  return r;
}

// an OK with this acceptance and a reason starting with prefix
function expectOk(m, ok, prefix, what) {
  const good = m && m[0] === 'OK' && m[2] === ok && m[3].startsWith(prefix);
  if (good && prefix)
    seen.add(prefix);
  rep.ok(good, `${what}: OK ${ok} "${prefix}"`, m);
}

function expectClosed(m, prefix, what) {
  const good = m && m[0] === 'CLOSED' && m[2].startsWith(prefix);
  if (good)
    seen.add(prefix);
  rep.ok(good, `${what}: CLOSED "${prefix}"`, m);
}

async function plainRelay() {
  const r = await relayWith([]);
  const c = await RawClient.open(r.url);
  const k = newKey();

  const ev = makeEvent(k);
  expectOk(await c.publish(ev), true, '', 'first publish');
  expectOk(await c.publish(ev), true, 'duplicate:', 'same event again');

  const tampered = { ...makeEvent(k, { content: 'original' }) };
  tampered.content = 'changed';
  expectOk(await c.publish(tampered), false, 'invalid:', 'content changed after signing');
  rep.ok((await c.ok(tampered.id)).at(3).includes('id'), 'the reason names the id');

  const e1 = makeEvent(k, { content: 'one' });
  const e2 = makeEvent(k, { content: 'two' });
  const badSig = { ...e1, sig: e2.sig };
  expectOk(await c.publish(badSig), false, 'invalid:', 'signature of another event');
  rep.ok((await c.ok(badSig.id)).at(3).includes('signature'), 'the reason names the signature');
  const q = await c.req('after-bad', { ids: [e1.id, tampered.id] });
  rep.ok(q.events.length === 0, 'refused events are not stored', q.events);
  c.send(['CLOSE', 'after-bad']);

  expectOk(await c.publish(makeEvent(k, { created_at: now() + 3600 })), false, 'invalid:',
    'created_at an hour ahead');
  expectOk(await c.publish(makeEvent(k, { tags: [['expiration', String(now() - 1)]] })), false,
    'invalid:', 'already expired');
  const authEv = finalizeEvent({ kind: 22242, created_at: now(), content: '',
    tags: [['relay', r.url], ['challenge', 'x']] }, k.sk);
  expectOk(await c.publish(authEv), false, 'invalid:', 'kind 22242 in an EVENT message');

  // malformed event: still answered with OK false, addressed by its id
  const broken = makeEvent(k);
  c.send(`["EVENT",{"id":"${broken.id}","pubkey":"${broken.pubkey}","created_at":"soon",` +
    `"kind":1,"tags":[],"content":"","sig":"${broken.sig}"}]`);
  expectOk(await c.ok(broken.id), false, 'invalid:', 'created_at is a string');
  const noteNext = c.next('NOTICE');
  c.send('["EVENT", {"kind": 1');
  const notice = await noteNext;
  rep.ok(notice[1].startsWith('invalid:'), 'unparseable JSON: NOTICE "invalid:"', notice);

  // REQ refusals
  const filters = Array.from({ length: 11 }, (_, i) => ({ kinds: [i] }));
  expectClosed((await c.req('many-filters', ...filters)).end, 'invalid:', '11 filters');
  expectClosed((await c.req('bad-filter', { search: 'x' })).end, 'unsupported:', 'NIP-50 search');
  expectClosed((await c.req('bad-filter2', { kinds: ['one'] })).end, 'invalid:', 'kinds of strings');
  for (let i = 0; i < 32; i++)
    c.send(['REQ', `s${i}`, { ids: [ev.id] }]);
  await c.wait((m) => m[0] === 'EOSE' && m[1] === 's31', 5000, 'EOSE s31');
  expectClosed((await c.req('one-too-many', { ids: [ev.id] })).end, 'rate-limited:',
    '33rd subscription');
  c.send(['CLOSE', 's0']);
  const again = await c.req('one-too-many', { ids: [ev.id] });
  rep.ok(again.end[0] === 'EOSE' && again.events.length === 1, 'after a CLOSE there is room',
    again.end);
  // COUNT refusal
  c.send(['COUNT', 'cnt', ...filters]);
  expectClosed(await c.wait((m) => m[0] === 'CLOSED' && m[1] === 'cnt', 5000, 'CLOSED cnt'), 'invalid:',
    'COUNT with 11 filters');
  c.close();
}

async function powAndDiscovery() {
  const r = await relayWith(['--discovery', '--pow', '5970:10']);
  const c = await RawClient.open(r.url);
  const k = newKey();
  expectOk(await c.publish(makeEvent(k, { kind: 1 })), false, 'blocked:',
    'kind 1 on a discovery relay');
  expectOk(await c.publish(makeEvent(k, { kind: 4 })), false, 'blocked:', 'kind 4 (DM)');
  expectOk(await c.publish(makeEvent(k, { kind: 5970, tags: [['i', 'x', 'text']] })), false,
    'pow:', 'kind 5970 without proof of work');
  const mined = minePow({ kind: 5970, created_at: now(), tags: [['i', 'x', 'text']],
    content: '', pubkey: getPublicKey(k.sk) }, 10);
  const signed = finalizeEvent(mined, k.sk);
  expectOk(await c.publish(signed), true, '', 'kind 5970 with 10 bits of work');
  expectOk(await c.publish(makeEvent(k, { kind: 31990, tags: [['d', 'h'], ['k', '5970']] })), true,
    '', 'NIP-89 announcement');
  expectOk(await c.publish(makeEvent(k, { kind: 5100, tags: [['i', 'x', 'text']] })), true, '',
    'other job kinds pass (no --job-kinds)');
  c.close();
  const res = await fetch(r.url.replace('ws://', 'http://'),
    { headers: { Accept: 'application/nostr+json' } });
  const doc = await res.json();
  rep.ok(doc.limitation.restricted_writes === true, 'NIP-11 says writes are restricted', doc);
}

async function rateLimits() {
  const r = await relayWith(['--rate-conn', '5', '--rate-pubkey', '0']);
  const c = await RawClient.open(r.url);
  const evs = Array.from({ length: 30 }, () => makeEvent(newKey()));
  const from = c.msgs.length;
  for (const e of evs)
    c.send(['EVENT', e]);
  const oks = await Promise.all(evs.map((e) => c.ok(e.id, 5000, from)));
  const limited = oks.filter((m) => !m[2] && m[3].startsWith('rate-limited:'));
  const passed = oks.filter((m) => m[2]);
  // a burst of 10, plus what refills (5/s) while a slow machine sends 30
  rep.ok(passed.length >= 10 && passed.length <= 15 && limited.length === 30 - passed.length,
    `per connection: a burst of 10 passes, the rest is rate-limited (${passed.length} passed)`);
  if (limited.length)
    seen.add('rate-limited:');
  await sleep(1100);
  expectOk(await c.publish(makeEvent(newKey())), true, '', 'after a second there is room again');
  c.close();

  const r2 = await relayWith(['--rate-conn', '0', '--rate-pubkey', '1']);
  const k = newKey();
  const conns = await Promise.all([0, 1, 2].map(() => RawClient.open(r2.url)));
  const results = [];
  for (let i = 0; i < 9; i++)
    results.push(await conns[i % 3].publish(makeEvent(k, { content: `n${i}` })));
  const okN = results.filter((m) => m[2]).length;
  // a burst of 2; one more may refill (1/s) on a slow machine
  rep.ok(okN >= 2 && okN <= 3 && results.slice(0, 2).every((m) => m[2]) &&
    results.filter((m) => !m[2]).every((m) => m[3].startsWith('rate-limited:')),
  `per author across connections: 2 pass, then rate-limited (${okN} passed)`, results);
  // a forged event does not spend the author's budget
  const victim = newKey();
  const forged = { ...makeEvent(victim), sig: makeEvent(newKey()).sig };
  for (let i = 0; i < 5; i++)
    await conns[0].publish({ ...forged, content: `f${i}`, id: forged.id });
  expectOk(await conns[1].publish(makeEvent(victim)), true, '',
    "forged events do not use up the real author's rate");
  conns.forEach((x) => x.close());
}

async function authPrefixes() {
  const r = await relayWith(['--auth', 'write']);
  const c = await RawClient.open(r.url);
  const challenge = (await c.wait((m) => m[0] === 'AUTH'))[1];
  const k = newKey();
  expectOk(await c.publish(makeEvent(k)), false, 'auth-required:', 'EVENT before AUTH');
  const q = await c.req('free-read', { kinds: [1] });
  rep.ok(q.end[0] === 'EOSE', '--auth write leaves reading open', q.end);
  const auth = finalizeEvent({ kind: 22242, created_at: now(), content: '',
    tags: [['relay', r.url], ['challenge', challenge]] }, k.sk);
  c.send(['AUTH', auth]);
  expectOk(await c.ok(auth.id), true, '', 'AUTH');
  expectOk(await c.publish(makeEvent(k)), true, '', 'EVENT after AUTH');
  expectOk(await c.publish(makeEvent(newKey())), false, 'restricted:', "another author's event");
  c.close();

  const r2 = await relayWith(['--auth', 'read']);
  const c2 = await RawClient.open(r2.url);
  expectClosed((await c2.req('need-auth', { kinds: [1] })).end, 'auth-required:', 'REQ');
  c2.send(['COUNT', 'cnt', { kinds: [1] }]);
  expectClosed(await c2.wait((m) => m[0] === 'CLOSED' && m[1] === 'cnt'), 'auth-required:',
    'COUNT');
  c2.close();
}

async function tooLarge() {
  const r = await relayWith(['--max-message', '4k']);
  const k = newKey();
  const c = await RawClient.open(r.url);
  expectOk(await c.publish(makeEvent(k, { content: 'x'.repeat(3000) })), true, '',
    '3000-byte content under a 4 KiB limit');
  c.send(['EVENT', makeEvent(k, { content: 'x'.repeat(5000) })]);
  const n = await c.wait((m) => m[0] === 'NOTICE');
  rep.ok(n[1].startsWith('invalid: message too large'), 'too large: NOTICE', n);
  const cl = await c.waitClose();
  rep.ok(cl.code === 1009, 'too large: closed with 1009 (message too big)', cl);
  seen.add('message too large');

  // the same, sent as many small continuation frames
  const c2 = await RawClient.open(r.url);
  const big = JSON.stringify(['EVENT', makeEvent(k, { content: 'y'.repeat(8000) })]);
  for (let i = 0; i < big.length; i += 1000)
    c2.ws.send(big.slice(i, i + 1000), { fin: i + 1000 >= big.length });
  const n2 = await c2.wait((m) => m[0] === 'NOTICE');
  rep.ok(n2[1].startsWith('invalid: message too large'), 'fragmented too large: NOTICE', n2);
  rep.ok((await c2.waitClose()).code === 1009, 'fragmented too large: closed');

  // a fragmented message under the limit is put together
  const c3 = await RawClient.open(r.url);
  const ok = makeEvent(k, { content: 'z'.repeat(3000) });
  const s = JSON.stringify(['EVENT', ok]);
  for (let i = 0; i < s.length; i += 500)
    c3.ws.send(s.slice(i, i + 500), { fin: i + 500 >= s.length });
  expectOk(await c3.ok(ok.id), true, '', 'a fragmented message under the limit');
  c3.close();
}

async function slowReader() {
  const r = await relayWith(['--max-message', '16k', '--max-output', '256k', '--rate-conn', '0',
    '--rate-pubkey', '0']);
  const reader = await RawClient.open(r.url);
  reader.send(['REQ', 'all', { kinds: [1] , limit: 0 }]);
  await reader.wait((m) => m[0] === 'EOSE');
  reader.ws._socket.pause(); // stop reading: the relay's output piles up
  const w = await RawClient.open(r.url);
  const k = newKey();
  const content = 'w'.repeat(8000);
  const evs = Array.from({ length: 1500 }, (_, i) => makeEvent(k, { content: content + i }));
  const from = w.msgs.length;
  for (const e of evs)
    w.send(['EVENT', e]);
  await w.ok(evs[evs.length - 1].id, 30000, from);
  reader.ws._socket.resume();
  const cl = await reader.waitClose(15000);
  const notice = reader.msgs.find((m) => m[0] === 'NOTICE');
  rep.ok(cl.code === 1008, 'slow reader: closed (1008)', cl);
  rep.ok(notice && notice[1].startsWith('error:') && notice[1].includes('slow'),
    'slow reader: NOTICE says why', notice);
  const got = reader.msgs.filter((m) => m[0] === 'EVENT').length;
  rep.ok(got < evs.length, `slow reader got ${got} of ${evs.length} before the close`);
  const ok = await w.publish(makeEvent(k));
  rep.ok(ok[2] === true, 'the writer is unaffected');
  w.close();
}

try {
  await plainRelay();
  await powAndDiscovery();
  await rateLimits();
  await authPrefixes();
  await tooLarge();
  await slowReader();
} catch (e) {
  rep.ok(false, 'exception: ' + e.stack);
}
for (const p of ['duplicate:', 'invalid:', 'pow:', 'blocked:', 'rate-limited:', 'auth-required:',
  'restricted:', 'unsupported:', 'message too large'])
  rep.ok(seen.has(p), `prefix ${p} was exercised`);
for (const r of relays) {
  const { code } = await r.stop();
  rep.ok(code === 0, 'relay exits 0 on SIGTERM', r.stderr());
  cleanup(r.data.replace(/\/db$/, ''));
}
rep.finish(`${relays.length} relays, prefixes seen: ${[...seen].join(' ')}`);
