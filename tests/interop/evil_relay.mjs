// A misbehaving relay for the pool tests. It answers every REQ with one
// kind of abuse, then EOSE, and keeps it up on reconnects:
//   badsig     events that match the filter, with broken signatures
//   badid      events whose id does not match their content
//   forge      copies of the events in --good FILE with changed content
//              and their original ids and signatures (they must never
//              shadow the real ones arriving from an honest relay)
//   garbage    unparseable and malformed messages
//   huge       messages over hearth's size bound (5 MiB each)
//   unmatched  validly signed events that do not match the filter
//   wrongsub   valid events for a subscription id never sent to it
//   flood      NOTICE messages as fast as the socket takes them
//   honest     nothing wrong: valid matching events (a control)
//
// usage: node evil_relay.mjs --mode MODE [--good FILE] [--port N]
// prints {"url": ...} once listening. Bounded: at most 400k messages and
// 60 s per connection.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { finalizeEvent, generateSecretKey } from 'nostr-tools/pure';
import { WebSocketServer } from 'ws';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const mode = opt('--mode', 'honest');
const good = opt('--good') ? readFileSync(opt('--good'), 'utf8').split('\n')
  .filter(Boolean).map((l) => JSON.parse(l)) : [];
const sk = generateSecretKey();

// a valid event that the filter accepts
function matching(filter, i) {
  const kinds = filter.kinds || [1];
  const tags = [];
  for (const [k, v] of Object.entries(filter))
    if (k.startsWith('#') && v.length)
      tags.push([k.slice(1), v[0]]);
  return finalizeEvent({ kind: kinds[0], created_at: Math.floor(Date.now() / 1000) - i,
    tags, content: `evil ${i}` }, sk);
}

const flip = (hex) => (hex[0] === '0' ? '1' : '0') + hex.slice(1);

function abuse(ws, subid, filter) {
  const send = (m) => ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  const ev = (e) => send(['EVENT', subid, e]);
  switch (mode) {
  case 'badsig':
    for (let i = 0; i < 40; i++) {
      const e = matching(filter, i);
      ev({ ...e, sig: flip(e.sig) });
    }
    break;
  case 'badid':
    for (let i = 0; i < 40; i++) {
      const e = matching(filter, i);
      ev({ ...e, content: e.content + ' (edited)' });
    }
    break;
  case 'forge':
    for (const e of good)
      ev({ ...e, content: 'FORGED ' + e.content });
    for (const e of good)
      ev({ ...e, created_at: e.created_at + 1 });
    break;
  case 'garbage':
    for (let i = 0; i < 5; i++) {
      send('{not json');
      send('["EVENT"]');
      send(`["EVENT","${subid}",{"id":"zz"}]`);
      send('["NOTICE",1,2,3]');
      send(Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('latin1'));
    }
    break;
  case 'huge':
    for (let i = 0; i < 6; i++)
      send('["NOTICE","' + 'x'.repeat(5 << 20) + '"]');
    break;
  case 'unmatched':
    for (let i = 0; i < 80; i++)
      ev(finalizeEvent({ kind: 7, created_at: Math.floor(Date.now() / 1000), tags: [],
        content: `reaction ${i}` }, sk));
    break;
  case 'wrongsub':
    for (let i = 0; i < 40; i++)
      send(['EVENT', `other-${i}`, matching(filter, i)]);
    break;
  case 'flood': {
    let n = 0;
    const t0 = Date.now();
    const pump = () => {
      if (ws.readyState !== 1 || n >= 400000 || Date.now() - t0 > 60000)
        return;
      for (let i = 0; i < 2000; i++, n++)
        send(['NOTICE', `flood ${n}`]);
      setImmediate(pump);
    };
    pump();
    return;
  }
  default:
    for (let i = 0; i < 5; i++)
      ev(matching(filter, i));
  }
  send(['EOSE', subid]);
}

const server = createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ server });
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (d) => {
    let m;
    try {
      m = JSON.parse(d.toString());
    } catch {
      return;
    }
    if (m[0] === 'REQ')
      abuse(ws, m[1], m[2] || {});
    else if (m[0] === 'EVENT')
      ws.send(JSON.stringify(['OK', m[1].id, true, '']));
  });
});
server.listen(Number(opt('--port', 0)), '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `ws://127.0.0.1:${server.address().port}` }));
});
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => process.exit(0));
