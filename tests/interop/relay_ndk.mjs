// `hearth relay` driven by NDK (@nostr-dev-kit/ndk), the other big client
// library: publish, fetch, replaceable events, live subscriptions, NIP-09
// deletion through NDKEvent.delete(), NIP-42 with NDK's signIn policy, and
// a refusal surfacing as NDK's publish error.
//
// usage: node relay_ndk.mjs PATH/TO/hearth
import WebSocket from 'ws';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Report, hearthFromArgv } from './common.mjs';
import { cleanup, newKey, now, sleep, startRelay } from './relay_common.mjs';

globalThis.WebSocket ??= WebSocket; // Node 20 has none; NDK expects one
const { default: NDK, NDKEvent, NDKPrivateKeySigner, NDKRelayAuthPolicies,
  NDKSubscriptionCacheUsage } = await import('@nostr-dev-kit/ndk');

const hearth = hearthFromArgv();
const rep = new Report('interop-relay_ndk', 0);
const relays = [];
const ONLY_RELAY = { cacheUsage: NDKSubscriptionCacheUsage.ONLY_RELAY, groupable: false };

async function connect(url, key, authPolicy) {
  const ndk = new NDK({ explicitRelayUrls: [url],
    signer: new NDKPrivateKeySigner(bytesToHex(key.sk)) });
  if (authPolicy)
    ndk.relayAuthDefaultPolicy = authPolicy(ndk);
  await ndk.connect(3000);
  return ndk;
}

async function publish(ndk, fields) {
  const ev = new NDKEvent(ndk, { created_at: now(), tags: [], content: '', ...fields });
  await ev.sign();
  try {
    const set = await ev.publish(undefined, 5000);
    return { ev, ok: set.size === 1 };
  } catch (e) {
    return { ev, ok: false, error: e };
  }
}

const fetchAll = async (ndk, filter) => [...await ndk.fetchEvents(filter, ONLY_RELAY)];

async function basics(url) {
  const k = newKey();
  const ndk = await connect(url, k);
  const notes = [];
  for (let i = 0; i < 5; i++)
    notes.push(await publish(ndk, { kind: 1, content: `ndk note ${i}`, created_at: now() - 10 + i }));
  rep.ok(notes.every((n) => n.ok), 'NDK publishes 5 notes', notes.map((n) => n.error?.message));
  const got = await fetchAll(ndk, { authors: [k.pk], kinds: [1] });
  rep.ok(got.length === 5, 'NDK fetches them back', got.length);
  rep.ok(got.every((e) => notes.some((n) => n.ev.id === e.id && n.ev.sig === e.sig)),
    'same ids and signatures');

  // replaceable: NDK's profile is kind 0
  await publish(ndk, { kind: 0, content: '{"name":"first"}', created_at: now() - 5 });
  await publish(ndk, { kind: 0, content: '{"name":"second"}', created_at: now() });
  const prof = await fetchAll(ndk, { authors: [k.pk], kinds: [0] });
  rep.ok(prof.length === 1 && JSON.parse(prof[0].content).name === 'second',
    'kind 0 replaced', prof.map((e) => e.content));

  // addressable
  await publish(ndk, { kind: 30023, tags: [['d', 'post']], content: 'v1', created_at: now() - 5 });
  await publish(ndk, { kind: 30023, tags: [['d', 'post']], content: 'v2', created_at: now() });
  const art = await fetchAll(ndk, { authors: [k.pk], kinds: [30023] });
  rep.ok(art.length === 1 && art[0].content === 'v2', 'kind 30023 replaced per d tag',
    art.map((e) => e.content));

  // deletion with NDKEvent.delete()
  const victim = notes[2].ev;
  await victim.delete('test');
  await sleep(200);
  const after = await fetchAll(ndk, { ids: [victim.id] });
  rep.ok(after.length === 0, 'NDK delete() removes the event', after.length);
  rep.ok((await fetchAll(ndk, { authors: [k.pk], kinds: [1] })).length === 4, 'the others stay');

  // live subscription from a second NDK instance
  const other = newKey();
  const watcher = await connect(url, other);
  const seen = [];
  const sub = watcher.subscribe({ authors: [k.pk], kinds: [1], since: now() },
    { closeOnEose: false, ...ONLY_RELAY });
  sub.on('event', (e) => seen.push(e.id));
  await sleep(300);
  const live = await publish(ndk, { kind: 1, content: 'live from ndk' });
  await sleep(500);
  rep.ok(seen.includes(live.ev.id), 'NDK subscription gets the live event', seen);
  sub.stop();
  for (const n of [ndk, watcher])
    for (const r of n.pool.relays.values())
      r.disconnect();
}

async function auth() {
  const r = await startRelay(hearth, ['--auth', 'write']);
  relays.push(r);
  const k = newKey();
  const ndk = await connect(r.url, k, (n) => NDKRelayAuthPolicies.signIn({ ndk: n }));
  await sleep(300); // the challenge arrives on connect; NDK answers it
  const res = await publish(ndk, { kind: 1, content: 'after NIP-42 via NDK' });
  rep.ok(res.ok, 'NDK signIn policy authenticates, then publishes', res.error?.message);
  const check = await fetchAll(ndk, { ids: [res.ev.id] });
  rep.ok(check.length === 1, 'and the event is stored');
  for (const x of ndk.pool.relays.values())
    x.disconnect();
}

async function refused() {
  const r = await startRelay(hearth, ['--discovery']);
  relays.push(r);
  const ndk = await connect(r.url, newKey());
  const res = await publish(ndk, { kind: 1, content: 'not a market kind' });
  const msg = [res.error?.message, ...(res.error?.errors?.values?.() ?? [])]
    .map((e) => String(e?.message ?? e)).join(' | ');
  rep.ok(!res.ok && msg.includes('blocked:'), 'NDK surfaces "blocked:" as a publish error', msg);
  for (const x of ndk.pool.relays.values())
    x.disconnect();
}

try {
  const main = await startRelay(hearth, []);
  relays.push(main);
  await basics(main.url);
  await auth();
  await refused();
} catch (e) {
  rep.ok(false, 'exception: ' + e.stack);
}
for (const r of relays) {
  const { code } = await r.stop();
  rep.ok(code === 0, 'relay exits 0 on SIGTERM', r.stderr());
  cleanup(r.data.replace(/\/db$/, ''));
}
rep.finish(`${relays.length} relays`);
