// A third-party Nostr relay for the pool interop tests: @nostr-relay/core
// (protocol, verification, subscriptions) and @nostr-relay/validator
// (message checks) from npm, served with the `ws` package over Node's
// http/https server, plus what the library leaves to the host: an
// in-memory event repository (optionally persisted as JSON lines, so a
// restarted relay keeps its events) and a NIP-11 document.
//
// Test knobs (hooks around the library, never changes to it):
//   --port N            listen port (0: any; the URL is printed on stdout)
//   --db FILE           keep events in FILE across restarts
//   --log FILE          append every client message received to FILE
//   --nip11 JSON        extra "limitation" fields for the NIP-11 document
//   --auth read|write   enable NIP-42 and require it for REQ or EVENT
//   --rate-limit N      answer "rate-limited:" to the first N sends of
//                       each event id
//   --block-kind K      answer "blocked:" to events of kind K
//   --tls CERT,KEY      serve wss:// (https for NIP-11)
//
// usage: node js_relay.mjs [options]; prints {"url": "..."} once listening.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { NostrRelay } from '@nostr-relay/core';
import { EventRepository, EventUtils } from '@nostr-relay/common';
import { Validator } from '@nostr-relay/validator';
import { WebSocketServer } from 'ws';

function parseArgs(argv) {
  const o = { port: 0, db: null, log: null, nip11: {}, auth: null,
    rateLimit: 0, blockKind: null, tls: null };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i];
    if (a === '--port') o.port = Number(v());
    else if (a === '--db') o.db = v();
    else if (a === '--log') o.log = v();
    else if (a === '--nip11') o.nip11 = JSON.parse(v());
    else if (a === '--auth') o.auth = v();
    else if (a === '--rate-limit') o.rateLimit = Number(v());
    else if (a === '--block-kind') o.blockKind = Number(v());
    else if (a === '--tls') o.tls = v().split(',');
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const isReplaceable = (k) => k === 0 || k === 3 || (k >= 10000 && k < 20000);
const isAddressable = (k) => k >= 30000 && k < 40000;
const dTag = (e) => (e.tags.find((t) => t[0] === 'd') || [])[1] ?? '';

// The repository is the part a host application brings; this one keeps
// every event in a Map and answers filters with the library's own matcher.
class MemoryRepository extends EventRepository {
  constructor(file) {
    super();
    this.events = new Map();
    this.file = file;
    if (file && existsSync(file))
      for (const line of readFileSync(file, 'utf8').split('\n'))
        if (line)
          this.store(JSON.parse(line));
  }

  isSearchSupported() { return false; }

  store(e) {
    if (isReplaceable(e.kind) || isAddressable(e.kind)) {
      for (const [id, o] of this.events) {
        if (o.kind !== e.kind || o.pubkey !== e.pubkey)
          continue;
        if (isAddressable(e.kind) && dTag(o) !== dTag(e))
          continue;
        if (o.created_at > e.created_at)
          return false;
        this.events.delete(id);
      }
    }
    this.events.set(e.id, e);
    return true;
  }

  upsert(e) {
    if (this.events.has(e.id))
      return { isDuplicate: true };
    if (this.store(e) && this.file)
      appendFileSync(this.file, JSON.stringify(e) + '\n');
    return { isDuplicate: false };
  }

  // EventUtils.isMatchingFilter (common 0.0.40) skips "#x" conditions, so
  // stored events are matched on tags here; live events are matched by the
  // library alone and may not honour them (the pool drops those).
  find(filter) {
    const tagsOk = (e) => Object.entries(filter).every(([k, vals]) =>
      !k.startsWith('#') || e.tags.some((t) => t[0] === k.slice(1) && vals.includes(t[1])));
    const out = [...this.events.values()]
      .filter((e) => EventUtils.isMatchingFilter(e, filter) && tagsOk(e))
      .sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
    return out.slice(0, filter.limit ?? 5000);
  }

  async destroy() {}
}

const quiet = { setLogLevel() {}, debug() {}, info() {}, warn() {},
  error(...a) { console.error(...a); } };

const o = parseArgs(process.argv);
const relay = new NostrRelay(new MemoryRepository(o.db), {
  hostname: o.auth ? '127.0.0.1' : undefined,
  logger: quiet,
  // caches would replay a refusal to a retry, or a stale query result
  filterResultCacheTtl: 0,
  eventHandlingResultCacheTtl: 0,
});

const attempts = new Map();
relay.register({
  beforeHandleEvent(e) {
    if (o.blockKind !== null && e.kind === o.blockKind)
      return { canHandle: false, message: 'blocked: kind not accepted here' };
    const n = (attempts.get(e.id) || 0) + 1;
    attempts.set(e.id, n);
    if (n <= o.rateLimit)
      return { canHandle: false, message: 'rate-limited: slow down' };
    return { canHandle: true };
  },
});
relay.register({
  async handleMessage(ctx, msg, next) {
    if (o.auth === 'write' && msg[0] === 'EVENT' && !ctx.pubkey) {
      ctx.sendMessage(['OK', msg[1].id, false, 'auth-required: sign in first']);
      return { messageType: 'EVENT', success: false };
    }
    if (o.auth === 'read' && msg[0] === 'REQ' && !ctx.pubkey) {
      ctx.sendMessage(['CLOSED', msg[1], 'auth-required: sign in first']);
      return { messageType: 'REQ', events: [] };
    }
    return next();
  },
});

const validator = new Validator();
const info = () => JSON.stringify({
  name: 'hearth interop js relay',
  software: '@nostr-relay/core',
  supported_nips: [1, 11, 42],
  limitation: { auth_required: o.auth !== null, ...o.nip11 },
});
function onHttp(req, res) {
  if ((req.headers.accept || '').includes('application/nostr+json')) {
    res.writeHead(200, { 'content-type': 'application/nostr+json' });
    res.end(info());
  } else {
    res.writeHead(404);
    res.end('use a websocket\n');
  }
}
const server = o.tls
  ? createHttps({ cert: readFileSync(o.tls[0]), key: readFileSync(o.tls[1]) }, onHttp)
  : createHttp(onHttp);
const wss = new WebSocketServer({ server, maxPayload: 8 << 20 });
wss.on('connection', (ws, req) => {
  relay.handleConnection(ws, req.socket.remoteAddress);
  ws.on('message', async (data) => {
    if (o.log)
      appendFileSync(o.log, data.toString() + '\n');
    try {
      const msg = await validator.validateIncomingMessage(data);
      await relay.handleMessage(ws, msg);
    } catch (e) {
      ws.send(JSON.stringify(['NOTICE', `invalid: ${e.message}`]));
    }
  });
  ws.on('close', () => relay.handleDisconnect(ws));
  ws.on('error', () => {});
});
server.listen(o.port, '127.0.0.1', () => {
  const { port } = server.address();
  console.log(JSON.stringify({ url: `${o.tls ? 'wss' : 'ws'}://127.0.0.1:${port}` }));
});
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => process.exit(0));
