// `hearth relay` driven by nostr-tools' Relay client (over the `ws`
// package): publish, query, live subscriptions, replaceable and addressable
// replacement, NIP-09 deletion, NIP-40 expiration, NIP-45 COUNT, NIP-42
// AUTH, ephemeral events, and the NIP-11 document.
//
// usage: node relay_clients.mjs PATH/TO/hearth
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { finalizeEvent } from 'nostr-tools/pure';
import { Report, hearthFromArgv } from './common.mjs';
import { RawClient, WebSocket, cleanup, makeEvent, newKey, now, sleep,
  startRelay } from './relay_common.mjs';

useWebSocketImplementation(WebSocket);
const hearth = hearthFromArgv();
const rep = new Report('interop-relay_clients', 0);
const relays = [];

async function relayWith(args) {
  const r = await startRelay(hearth, args);
  relays.push(r);
  return r;
}

// publish through nostr-tools: resolves to [ok, reason]
async function pub(relay, ev) {
  try {
    return [true, await relay.publish(ev)];
  } catch (e) {
    return [false, e.message];
  }
}

function query(relay, filters, ms = 5000) {
  return new Promise((resolve, reject) => {
    const got = [];
    let done = false;
    const t = setTimeout(() => reject(new Error('no EOSE')), ms);
    const sub = relay.subscribe(filters, {
      onevent: (e) => got.push(e),
      oneose: () => {
        clearTimeout(t);
        done = true;
        resolve(got);
        sub.close();
      },
      onclose: (reason) => {
        clearTimeout(t);
        if (!done)
          resolve({ closed: reason, got });
      },
    });
  });
}

async function basics(url) {
  const relay = await Relay.connect(url);
  const alice = newKey();
  const evs = [];
  for (let i = 0; i < 20; i++)
    evs.push(makeEvent(alice, { content: `note ${i}`, created_at: now() - 100 + i,
      tags: [['t', i % 2 ? 'odd' : 'even']] }));
  let oks = 0;
  for (const ev of evs)
    oks += (await pub(relay, ev))[0];
  rep.ok(oks === 20, 'publish 20 notes', oks);

  const all = await query(relay, [{ authors: [alice.pk] }]);
  rep.ok(all.length === 20, "query returns all 20", JSON.stringify(all).slice(0, 300));
  rep.ok(all.every((e, i) => i === 0 || all[i - 1].created_at >= e.created_at),
    'query is newest first');
  const lim = await query(relay, [{ authors: [alice.pk], limit: 5 }]);
  rep.ok(lim.length === 5 && lim[0].id === evs[19].id, 'limit 5 gives the 5 newest',
    lim.map((e) => e.content));
  const odd = await query(relay, [{ authors: [alice.pk], '#t': ['odd'] }]);
  rep.ok(odd.length === 10, '#t filter', odd.length);
  const byId = await query(relay, [{ ids: [evs[3].id, evs[7].id] }]);
  rep.ok(byId.length === 2, 'ids filter', byId.length);
  const since = await query(relay, [{ authors: [alice.pk], since: evs[15].created_at }]);
  rep.ok(since.length === 5, 'since filter', since.length);
  const same = (a, b) => ['id', 'pubkey', 'created_at', 'kind', 'tags', 'content', 'sig']
    .every((f) => JSON.stringify(a[f]) === JSON.stringify(b[f]));
  rep.ok(same(all.find((e) => e.id === evs[0].id), evs[0]), 'stored event comes back unchanged');

  // COUNT (NIP-45)
  rep.ok(await relay.count([{ authors: [alice.pk] }]) === 20, 'COUNT authors');
  rep.ok(await relay.count([{ authors: [alice.pk], '#t': ['even'] }, { ids: [evs[1].id] }]) === 11,
    'COUNT over two filters counts each event once');

  // live subscription: events published elsewhere arrive after EOSE
  const bob = newKey();
  const live = [];
  let eose = false;
  const sub = relay.subscribe([{ authors: [bob.pk] }], {
    onevent: (e) => live.push(e), oneose: () => { eose = true; },
  });
  await sleep(200);
  const other = await Relay.connect(url);
  const b1 = makeEvent(bob, { content: 'live one' });
  await pub(other, b1);
  await pub(other, makeEvent(alice, { content: 'not for this sub' }));
  await sleep(300);
  rep.ok(eose && live.length === 1 && live[0].id === b1.id, 'live event after EOSE', live);

  // ephemeral: broadcast to the subscriber, never stored
  const eph = makeEvent(bob, { kind: 20001, content: 'ephemeral' });
  const [eok] = await pub(other, eph);
  await sleep(300);
  rep.ok(eok && live.some((e) => e.id === eph.id), 'ephemeral event is broadcast');
  rep.ok((await query(relay, [{ ids: [eph.id] }])).length === 0, 'ephemeral event is not stored');
  sub.close();

  await replaceable(relay);
  await deletion(relay);
  await expiration(relay);
  relay.close();
  other.close();
}

async function replaceable(relay) {
  const k = newKey();
  const t = now() - 50;
  const m1 = makeEvent(k, { kind: 0, created_at: t, content: '{"name":"one"}' });
  const m2 = makeEvent(k, { kind: 0, created_at: t + 10, content: '{"name":"two"}' });
  await pub(relay, m1);
  await pub(relay, m2);
  let got = await query(relay, [{ authors: [k.pk], kinds: [0] }]);
  rep.ok(got.length === 1 && got[0].id === m2.id, 'kind 0: the newer replaces the older', got);
  const m0 = makeEvent(k, { kind: 0, created_at: t - 10, content: '{"name":"zero"}' });
  const [ok0, why0] = await pub(relay, m0);
  rep.ok(!ok0 && why0.startsWith('duplicate:'), 'kind 0: an older version is refused', why0);

  const a1 = makeEvent(k, { kind: 30078, created_at: t, tags: [['d', 'x']], content: 'x1' });
  const a2 = makeEvent(k, { kind: 30078, created_at: t + 5, tags: [['d', 'x']], content: 'x2' });
  const b1 = makeEvent(k, { kind: 30078, created_at: t, tags: [['d', 'y']], content: 'y1' });
  for (const e of [a1, b1, a2])
    await pub(relay, e);
  got = await query(relay, [{ authors: [k.pk], kinds: [30078] }]);
  rep.ok(got.length === 2 && got.some((e) => e.id === a2.id) && got.some((e) => e.id === b1.id),
    'addressable: replaced per d tag', got.map((e) => e.content));
  got = await query(relay, [{ kinds: [30078], authors: [k.pk], '#d': ['x'] }]);
  rep.ok(got.length === 1 && got[0].id === a2.id, 'addressable: #d query', got.length);
}

async function deletion(relay) {
  const k = newKey();
  const other = newKey();
  const e1 = makeEvent(k, { content: 'to delete' });
  const e2 = makeEvent(k, { content: 'to keep' });
  const a1 = makeEvent(k, { kind: 30001, tags: [['d', 'list']], content: 'addr', created_at: now() - 5 });
  const o1 = makeEvent(other, { content: 'not yours' });
  for (const e of [e1, e2, a1, o1])
    await pub(relay, e);
  const del = makeEvent(k, { kind: 5, tags: [['e', e1.id], ['e', o1.id],
    ['a', `30001:${k.pk}:list`]], content: 'oops' });
  const [dok] = await pub(relay, del);
  rep.ok(dok, 'deletion request accepted');
  const got = await query(relay, [{ ids: [e1.id, e2.id, a1.id, o1.id] }]);
  const ids = new Set(got.map((e) => e.id));
  rep.ok(!ids.has(e1.id) && ids.has(e2.id), 'NIP-09: the deleted event is gone, the other stays');
  rep.ok(!ids.has(a1.id), 'NIP-09: deletion by address');
  rep.ok(ids.has(o1.id), "NIP-09: nobody deletes another author's event");
  const [rok, rwhy] = await pub(relay, e1);
  rep.ok(!rok || rwhy.startsWith('duplicate:'), 'a deleted event does not come back', rwhy);
  rep.ok((await query(relay, [{ ids: [e1.id] }])).length === 0, 'still gone after republishing');
  rep.ok((await query(relay, [{ kinds: [5], authors: [k.pk] }])).length === 1,
    'the deletion request itself is stored');
}

async function expiration(relay) {
  const k = newKey();
  const past = makeEvent(k, { tags: [['expiration', String(now() - 10)]] });
  const [pok, pwhy] = await pub(relay, past);
  rep.ok(!pok && pwhy.startsWith('invalid:'), 'NIP-40: expired on arrival is invalid', pwhy);
  const soon = makeEvent(k, { tags: [['expiration', String(now() + 2)]], content: 'soon gone' });
  const [sok] = await pub(relay, soon);
  rep.ok(sok, 'NIP-40: event expiring later is accepted');
  rep.ok((await query(relay, [{ ids: [soon.id] }])).length === 1, 'NIP-40: served before expiry');
  await sleep(3200);
  rep.ok((await query(relay, [{ ids: [soon.id] }])).length === 0, 'NIP-40: hidden after expiry');
}

async function auth() {
  const r = await relayWith(['--auth', 'all']);
  const k = newKey();
  const signer = (t) => finalizeEvent(t, k.sk);
  const relay = await Relay.connect(r.url);
  await sleep(100); // the challenge arrives right after connecting
  rep.ok(typeof relay.challenge === 'string' && relay.challenge.length > 0, 'AUTH challenge sent');
  const [ok1, why1] = await pub(relay, makeEvent(k));
  rep.ok(!ok1 && why1.startsWith('auth-required:'), 'unauthenticated EVENT: auth-required', why1);
  const q1 = await query(relay, [{ kinds: [1] }]);
  rep.ok(q1.closed && q1.closed.startsWith('auth-required:'), 'unauthenticated REQ: auth-required',
    q1);
  let authReason;
  try {
    authReason = await relay.auth(signer);
  } catch (e) {
    authReason = 'failed: ' + e.message;
  }
  rep.ok(authReason === '', 'nostr-tools auth() accepted', authReason);
  const mine = makeEvent(k);
  const [ok2, why2] = await pub(relay, mine);
  rep.ok(ok2, 'authenticated EVENT accepted', why2);
  const [ok3, why3] = await pub(relay, makeEvent(newKey()));
  rep.ok(!ok3 && why3.startsWith('restricted:'), "someone else's event: restricted", why3);
  const q2 = await query(relay, [{ ids: [mine.id] }]);
  rep.ok(Array.isArray(q2) && q2.length === 1, 'authenticated REQ served', q2);
  relay.close();

  // a wrong challenge, a wrong relay URL
  const c = await RawClient.open(r.url);
  await c.wait((m) => m[0] === 'AUTH');
  const bad = finalizeEvent({ kind: 22242, created_at: now(), content: '',
    tags: [['relay', r.url], ['challenge', 'not-the-challenge']] }, k.sk);
  const [, , okb, whyb] = await c.publish(bad).then((m) => m);
  rep.ok(okb === false && whyb.startsWith('invalid:'), 'AUTH with a wrong challenge refused', whyb);
  const challenge = c.msgs.find((m) => m[0] === 'AUTH')[1];
  const elsewhere = finalizeEvent({ kind: 22242, created_at: now(), content: '',
    tags: [['relay', 'wss://elsewhere.example'], ['challenge', challenge]] }, k.sk);
  c.send(['AUTH', elsewhere]);
  const okw = await c.ok(elsewhere.id);
  rep.ok(okw[2] === false && okw[3].startsWith('invalid:'), 'AUTH for another relay refused', okw);
  c.close();
}

async function nip11(r) {
  const res = await fetch(r.url.replace('ws://', 'http://'),
    { headers: { Accept: 'application/nostr+json' } });
  const doc = await res.json();
  rep.ok(res.headers.get('access-control-allow-origin') === '*', 'NIP-11: CORS header');
  rep.ok(res.headers.get('content-type') === 'application/nostr+json', 'NIP-11: content type');
  rep.ok(Array.isArray(doc.supported_nips) && [1, 9, 11, 40, 42, 45].every((n) =>
    doc.supported_nips.includes(n)), 'NIP-11: supported_nips', doc.supported_nips);
  const l = doc.limitation || {};
  rep.ok(l.max_message_length === 256 * 1024 && l.max_subscriptions === 32 &&
    l.max_filters === 10 && l.max_limit === 500 && l.auth_required === false,
  'NIP-11: limitation fields', l);
  const page = await fetch(r.url.replace('ws://', 'http://'));
  rep.ok(page.status === 200 && (await page.text()).includes('Nostr relay'), 'plain GET: a page');
}

try {
  const main = await relayWith([]);
  await basics(main.url);
  await nip11(main);
  await auth();
} catch (e) {
  rep.ok(false, 'exception: ' + e.stack);
}
for (const r of relays) {
  const { code } = await r.stop();
  rep.ok(code === 0, 'relay exits 0 on SIGTERM', r.stderr());
  cleanup(r.data.replace(/\/db$/, ''));
}
rep.finish(`${relays.length} relays`);
