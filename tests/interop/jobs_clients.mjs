// `hearth run` serving NIP-90 jobs requested by third-party clients:
// nostr-tools (plain open, addressed, addressed to someone else, NIP-44
// and NIP-04 encrypted) and NDK's DVM request API (NDKDVMRequest, plain
// and with its encryption()). Every result is checked in the client that
// asked: signature (verifyEvent / NDK), the mined event's id and
// difficulty, the fields that must not change. Also: a malformed request
// addressed to the peer gets an error feedback; a price above the bid gets
// payment-required with the amount.
//
// usage: node jobs_clients.mjs PATH/TO/hearth
import { spawnSync } from 'node:child_process';
import WebSocket from 'ws';
import { bytesToHex } from '@noble/hashes/utils.js';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { finalizeEvent, verifyEvent } from 'nostr-tools/pure';
import * as nip04 from 'nostr-tools/nip04';
import * as nip44 from 'nostr-tools/nip44';
import { Report, hearthFromArgv } from './common.mjs';
import { cleanup, newKey, now, sleep } from './relay_common.mjs';
import { checkMined, startPeer, unsignedNote } from './jobs_common.mjs';

useWebSocketImplementation(WebSocket);
globalThis.WebSocket ??= WebSocket;
const { default: NDK, NDKDVMRequest, NDKEvent, NDKPrivateKeySigner,
  NDKSubscriptionCacheUsage } = await import('@nostr-dev-kit/ndk');

const hearth = hearthFromArgv();
const rep = new Report('interop-jobs_clients', 0);
const TARGET = 10;

// Publish a request and collect replies (results and feedback) for it
// until a result arrives or ms pass.
async function ask(relay, req, ms = 20000) {
  const replies = [];
  let done;
  const finished = new Promise((r) => { done = r; });
  const sub = relay.subscribe([{ kinds: [req.kind + 1000, 7000], '#e': [req.id] }], {
    onevent(ev) {
      replies.push(ev);
      if (ev.kind === req.kind + 1000)
        done();
    },
  });
  await relay.publish(req);
  await Promise.race([finished, sleep(ms)]);
  sub.close();
  return { result: replies.find((e) => e.kind === req.kind + 1000),
    feedback: replies.filter((e) => e.kind === 7000) };
}

const status = (fb) => fb.tags.find((t) => t[0] === 'status')?.[1];

function request(key, tags, content = '') {
  return finalizeEvent({ kind: 5970, created_at: now(), tags, content }, key.sk);
}

// feedback tags, with the private ones decrypted for encrypted requests
function fbTags(fb, decrypt) {
  if (!decrypt || !fb.tags.some((t) => t[0] === 'encrypted'))
    return fb.tags;
  try {
    return [...fb.tags, ...JSON.parse(decrypt(fb.content))];
  } catch {
    return fb.tags;
  }
}

function checkResult(what, res, req, input, text, decrypt) {
  rep.ok(res.result !== undefined, `${what}: a result arrives`,
    res.feedback.map((f) => f.tags));
  if (!res.result)
    return;
  rep.ok(verifyEvent(res.result), `${what}: the result's signature verifies`);
  rep.ok(res.result.tags.some((t) => t[0] === 'e' && t[1] === req.id) &&
    res.result.tags.some((t) => t[0] === 'p' && t[1] === req.pubkey),
  `${what}: result tags e and p`, res.result.tags);
  const bad = checkMined(text, input, TARGET);
  rep.ok(bad === '', `${what}: mined event checks out (${bad})`, text);
  rep.ok(res.feedback.some((f) => status({ tags: fbTags(f, decrypt) }) === 'processing'),
    `${what}: processing feedback arrives`, res.feedback.map((f) => f.tags));
}

async function plain(relay, peer) {
  const k = newKey();
  const input = unsignedNote(k.pk, 'open job');
  const req = request(k, [['i', JSON.stringify(input), 'text'], ['param', 'pow', String(TARGET)]]);
  const res = await ask(relay, req);
  checkResult('open request', res, req, input, res.result?.content);
  if (res.result) {
    rep.ok(res.result.tags.some((t) => t[0] === 'request' && JSON.parse(t[1]).id === req.id),
      'the result carries the request', res.result.tags);
    rep.ok(res.result.tags.some((t) => t[0] === 'i'), 'the result repeats the input');
  }
}

async function addressed(relay, peer) {
  const k = newKey();
  const input = unsignedNote(k.pk, 'addressed job');
  const req = request(k, [['i', JSON.stringify(input), 'text'], ['param', 'pow', String(TARGET)],
    ['p', peer.pubkey]]);
  const res = await ask(relay, req);
  checkResult('addressed request', res, req, input, res.result?.content);
}

async function elsewhere(relay) {
  const k = newKey();
  const other = newKey();
  const input = unsignedNote(k.pk, 'for someone else');
  const req = request(k, [['i', JSON.stringify(input), 'text'], ['param', 'pow', '4'],
    ['p', other.pk]]);
  const res = await ask(relay, req, 3000);
  rep.ok(!res.result && res.feedback.length === 0,
    'a request addressed to another peer is left alone', res);
}

async function encrypted44(relay, peer) {
  const k = newKey();
  const input = unsignedNote(k.pk, 'secret job (nip44)');
  const priv = [['i', JSON.stringify(input), 'text'], ['param', 'pow', String(TARGET)]];
  const conv = nip44.getConversationKey(k.sk, peer.pubkey);
  const req = request(k, [['p', peer.pubkey], ['encrypted']],
    nip44.encrypt(JSON.stringify(priv), conv));
  const res = await ask(relay, req);
  let text;
  try {
    text = res.result && nip44.decrypt(res.result.content, conv);
  } catch (e) {
    rep.ok(false, 'NIP-44 result decrypts', e.message);
  }
  checkResult('NIP-44 encrypted request', res, req, input, text,
    (c) => nip44.decrypt(c, conv));
  if (res.result) {
    rep.ok(res.result.tags.some((t) => t[0] === 'encrypted') &&
      !res.result.tags.some((t) => t[0] === 'i' || t[0] === 'request'),
    'the encrypted result leaks no input tags', res.result.tags);
    rep.ok(res.feedback.every((f) => f.tags.some((t) => t[0] === 'encrypted') &&
      !f.tags.some((t) => t[0] === 'status')),
    'feedback to an encrypted request hides its status too', res.feedback.map((f) => f.tags));
  }
}

async function encrypted04(relay, peer) {
  const k = newKey();
  const input = unsignedNote(k.pk, 'secret job (nip04)');
  const priv = [['i', JSON.stringify(input), 'text'], ['param', 'pow', String(TARGET)]];
  const req = request(k, [['p', peer.pubkey], ['encrypted']],
    nip04.encrypt(k.sk, peer.pubkey, JSON.stringify(priv)));
  const res = await ask(relay, req);
  let text;
  try {
    text = res.result && nip04.decrypt(k.sk, peer.pubkey, res.result.content);
  } catch (e) {
    rep.ok(false, 'NIP-04 result decrypts', e.message);
  }
  checkResult('NIP-04 encrypted request', res, req, input, text,
    (c) => nip04.decrypt(k.sk, peer.pubkey, c));
}

async function malformed(relay, peer) {
  const k = newKey();
  const req = request(k, [['i', '{not json', 'text'], ['param', 'pow', '8'],
    ['p', peer.pubkey]]);
  const res = await ask(relay, req, 4000);
  const err = res.feedback.find((f) => status(f) === 'error');
  rep.ok(!res.result && err !== undefined,
    'a malformed input gets an error feedback', res.feedback.map((f) => f.tags));
  const big = request(k, [['i', JSON.stringify(unsignedNote(k.pk)), 'text'],
    ['param', 'pow', '200'], ['p', peer.pubkey]]);
  const res2 = await ask(relay, big, 4000);
  const err2 = res2.feedback.find((f) => status(f) === 'error');
  rep.ok(!res2.result && err2 && /pow/.test(err2.tags.find((t) => t[0] === 'status')[2] || ''),
    'an impossible difficulty is refused with a reason naming the param',
    res2.feedback.map((f) => f.tags));
}

async function blocked(relay, peer) {
  const input = unsignedNote(blockedKey.pk, 'from a blocked customer');
  const req = request(blockedKey, [['i', JSON.stringify(input), 'text'],
    ['param', 'pow', '4'], ['p', peer.pubkey]]);
  const res = await ask(relay, req, 4000);
  const err = res.feedback.find((f) => status(f) === 'error');
  rep.ok(!res.result && err, 'a blocked customer gets an error feedback, no result',
    res.feedback.map((f) => f.tags));
}

async function ndkJobs(url, peer) {
  const k = newKey();
  const ndk = new NDK({ explicitRelayUrls: [url],
    signer: new NDKPrivateKeySigner(bytesToHex(k.sk)) });
  await ndk.connect(3000);
  const dvm = ndk.getUser({ pubkey: peer.pubkey });
  for (const enc of [false, true]) {
    const what = enc ? 'NDK encrypted DVM request' : 'NDK DVM request';
    const input = unsignedNote(k.pk, what);
    const req = new NDKDVMRequest(ndk);
    req.kind = 5970;
    req.addInput(JSON.stringify(input), 'text');
    req.addParam('pow', String(TARGET));
    if (enc)
      await req.encryption(dvm);
    else
      req.dvm = dvm;
    await req.sign();
    const results = [];
    const sub = ndk.subscribe({ kinds: [6970, 7000], '#e': [req.id] },
      { cacheUsage: NDKSubscriptionCacheUsage.ONLY_RELAY, groupable: false });
    sub.on('event', (e) => results.push(e));
    await req.publish();
    for (let i = 0; i < 200 && !results.some((e) => e.kind === 6970); i++)
      await sleep(100);
    sub.stop();
    const result = results.find((e) => e.kind === 6970);
    rep.ok(result !== undefined, `${what}: a result arrives`, results.map((e) => e.tags));
    if (!result)
      continue;
    rep.ok(await result.verifySignature(true) !== false, `${what}: NDK verifies the result`);
    if (enc)
      await result.decrypt(dvm);
    const bad = checkMined(result.content, input, TARGET);
    rep.ok(bad === '', `${what}: mined event checks out (${bad})`, result.content);
  }
}

// The provider's metering note (kind 7441) for a delivered job; the
// customer answers with a receipt (kind 7442) and the provider books it
// in its ledger (`hearth ledger`).
async function settle(relay, peer, k, req) {
  let note;
  for (let i = 0; i < 50 && !note; i++) {
    note = (await new Promise((res) => {
      const got = [];
      const sub = relay.subscribe([{ kinds: [7441], '#e': [req.id] }], {
        onevent: (e) => got.push(e),
        oneose: () => { sub.close(); res(got[0]); },
      });
    }));
    if (!note)
      await sleep(100);
  }
  rep.ok(note && verifyEvent(note) && note.pubkey === peer.pubkey,
    'the provider publishes a signed metering note for the job', note);
  if (!note)
    return;
  const tag = (n) => note.tags.find((t) => t[0] === n)?.[1];
  rep.ok(tag('amount') === '5000' && tag('final') === '1' && tag('seq') === '1' &&
    /^[0-9a-f]{64}$/.test(tag('input_sha256') || '') &&
    /^[0-9a-f]{64}$/.test(tag('output_sha256') || ''),
  'the note carries amount, seq, final and the input and output hashes', note.tags);
  const receipt = finalizeEvent({ kind: 7442, created_at: now(), content: '', tags: [
    ['e', note.id], ['request', req.id], ['p', peer.pubkey], ['v', '1'],
    ['status', 'accept'], ['amount', tag('amount')], ['rail', 'credit']] }, k.sk);
  await relay.publish(receipt);
  await sleep(1000);
  const out = spawnSync(hearth, ['ledger', 'balances', '--data', peer.data, '--json'],
    { encoding: 'utf8' });
  let rows = [];
  try {
    rows = JSON.parse(out.stdout);
  } catch {
    // reported below
  }
  rep.ok(rows.some((r) => r.counterparty === k.pk && r.net_owed_msat === 5000 &&
    r.revenue_msat === 5000), 'the provider books the accepted receipt: the customer owes 5000 msat',
  out.stdout + out.stderr);
  await relay.publish(receipt); // the same receipt again: booked once
  await sleep(500);
  const again = spawnSync(hearth, ['ledger', 'history', '--data', peer.data, '--json'],
    { encoding: 'utf8' });
  rep.ok(again.stdout.trim().split('\n').filter((l) => l).length === 1,
    'a receipt seen twice is booked once', again.stdout);
}

async function priced(hearthBin) {
  const peer = await startPeer(hearthBin, ['--port', '0', '--runner', 'pow,threads=1',
    '--price-job', '5000']);
  const relay = await Relay.connect(peer.relays[0]);
  try {
    const k = newKey();
    const input = unsignedNote(k.pk, 'no bid');
    const req = request(k, [['i', JSON.stringify(input), 'text'], ['param', 'pow', '4'],
      ['p', peer.pubkey]]);
    const res = await ask(relay, req, 4000);
    const pay = res.feedback.find((f) => status(f) === 'payment-required');
    rep.ok(!res.result && pay && pay.tags.some((t) => t[0] === 'amount' && t[1] === '5000'),
      'a job without a bid gets payment-required with the amount', res.feedback.map((f) => f.tags));
    const input2 = unsignedNote(k.pk, 'with bid');
    const req2 = request(k, [['i', JSON.stringify(input2), 'text'], ['param', 'pow', '4'],
      ['p', peer.pubkey], ['bid', '5000']]);
    const res2 = await ask(relay, req2);
    rep.ok(res2.result && res2.result.tags.some((t) => t[0] === 'amount' && t[1] === '5000'),
      'a bid covering the price is served, amount tag on the result',
      res2.result?.tags ?? res2.feedback.map((f) => f.tags));
    await settle(relay, peer, k, req2);
  } finally {
    relay.close();
    await peer.stop();
    cleanup(peer.data);
  }
}

const blockedKey = newKey();
const peer = await startPeer(hearth, ['--port', '0', '--runner', 'pow,threads=1',
  '--block', blockedKey.pk]);
let relay;
try {
  relay = await Relay.connect(peer.relays[0]);
  await plain(relay, peer);
  await addressed(relay, peer);
  await elsewhere(relay);
  await encrypted44(relay, peer);
  await encrypted04(relay, peer);
  await malformed(relay, peer);
  await ndkJobs(peer.relays[0], peer);
  await blocked(relay, peer);
  await priced(hearth);
} catch (e) {
  rep.ok(false, 'test crashed', e.stack);
} finally {
  relay?.close();
  const { code } = await peer.stop();
  rep.ok(code === 0, 'the peer exits 0 on SIGTERM', peer.stderr().slice(-2000));
  rep.ok(!/mine me|open job|secret job|blocked customer/.test(peer.stderr()),
    'the log holds no job content', peer.stderr().slice(-2000));
  cleanup(peer.data);
}
rep.finish("one peer, nostr-tools and NDK");
