// The router role: a customer (nostr-tools) on relay 1 publishes an open
// PoW job; the only provider reads relay 2 only; a router peer on both
// relays (`hearth run --runner none --route 5970`) takes the job,
// delegates it to the provider it finds in its market view, and answers
// under its own key with the chain in a "delegated" tag. Then: a job whose
// route tag already names the router is left alone (no loops), and a
// provider never serves a job whose route names it.
//
// usage: node jobs_route.mjs PATH/TO/hearth
import WebSocket from 'ws';
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay';
import { finalizeEvent, verifyEvent } from 'nostr-tools/pure';
import { Report, hearthFromArgv } from './common.mjs';
import { cleanup, newKey, now, sleep, startRelay } from './relay_common.mjs';
import { checkMined, startPeer, unsignedNote } from './jobs_common.mjs';

useWebSocketImplementation(WebSocket);
const hearth = hearthFromArgv();
const rep = new Report('interop-jobs_route', 0);
const TARGET = 10;

async function ask(relay, req, ms) {
  const got = [];
  let done;
  const finished = new Promise((r) => { done = r; });
  const sub = relay.subscribe([{ kinds: [6970, 7000], '#e': [req.id] }], {
    onevent(ev) {
      got.push(ev);
      if (ev.kind === 6970)
        done();
    },
  });
  await relay.publish(req);
  await Promise.race([finished, sleep(ms)]);
  sub.close();
  return { result: got.find((e) => e.kind === 6970), feedback: got.filter((e) => e.kind === 7000) };
}

const job = (k, extra = []) => {
  const input = unsignedNote(k.pk, `routed ${Math.random()}`);
  return { input, req: finalizeEvent({ kind: 5970, created_at: now(), content: '',
    tags: [['i', JSON.stringify(input), 'text'], ['param', 'pow', String(TARGET)], ...extra] }, k.sk) };
};

const r1 = await startRelay(hearth);
const r2 = await startRelay(hearth);
const peers = [];
let c1;
try {
  const prov = await startPeer(hearth, ['--relay', r2.url, '--runner', 'pow,threads=1']);
  peers.push(prov);
  const router = await startPeer(hearth, ['--relay', r1.url, '--relay', r2.url,
    '--runner', 'none', '--route', '5970', '--no-offers']);
  peers.push(router);
  await sleep(1500); // the router's view learns the provider's offer
  c1 = await Relay.connect(r1.url);
  const k = newKey();

  const { input, req } = job(k);
  const res = await ask(c1, req, 30000);
  rep.ok(res.result !== undefined, 'a routed job gets a result on the customer\'s relay',
    res.feedback.map((f) => f.tags));
  if (res.result) {
    rep.ok(verifyEvent(res.result) && res.result.pubkey === router.pubkey,
      'the result is signed by the router', res.result.pubkey);
    const del = res.result.tags.find((t) => t[0] === 'delegated');
    rep.ok(del && del[2] === prov.pubkey, 'the chain names the provider', res.result.tags);
    const bad = checkMined(res.result.content, input, TARGET);
    rep.ok(bad === '', `the routed result checks out (${bad})`, res.result.content);
  }
  rep.ok(/routed/.test(router.stderr()), 'the router logs the job as routed',
    router.stderr().slice(-1500));

  // a job that already passed through the router (and then through
  // another router x, its author: a route ends with its author): never
  // taken again
  const x = newKey();
  const loop = job(x, [['route', k.pk, router.pubkey, x.pk]]);
  const res2 = await ask(c1, loop.req, 4000);
  rep.ok(!res2.result && res2.feedback.length === 0,
    'a job whose route names the router is left alone', res2);

  // a provider named in the route does not serve the job either
  const c2 = await Relay.connect(r2.url);
  const loop2 = job(x, [['route', k.pk, prov.pubkey, x.pk]]);
  const res3 = await ask(c2, loop2.req, 4000);
  c2.close();
  rep.ok(!res3.result, 'a provider named in the route does not serve it', res3);
} catch (e) {
  rep.ok(false, 'test crashed', e.stack);
} finally {
  c1?.close();
  for (const p of peers) {
    const { code } = await p.stop();
    rep.ok(code === 0, 'peer exits 0', p.stderr().slice(-1500));
    cleanup(p.data);
  }
  await r1.stop();
  await r2.stop();
}
rep.finish('two relays, a provider, a router');
