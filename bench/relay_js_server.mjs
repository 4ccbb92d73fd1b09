// The JavaScript relay bench/relay.sh compares `hearth relay` with:
// @nostr-relay/core (NostrRelay: NIP-01 handling, signature checks with
// @noble/curves, subscriptions) with @nostr-relay/validator on a `ws`
// server, as its README wires them. The package ships no storage that runs
// without native modules (its event repository is better-sqlite3), so this
// file gives it an in-memory repository: a Map and a scan per filter, with
// NIP-01 replacement. That flatters it: nothing is written to disk.
//
// usage: node relay_js_server.mjs [--port N]   (prints {"url":...} once listening)
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'tests',
  'interop', 'package.json'));
const { NostrRelay } = require('@nostr-relay/core');
const { Validator } = require('@nostr-relay/validator');
const { EventRepository } = require('@nostr-relay/common');
const { WebSocketServer } = require('ws');

const versioned = (k) => k === 0 || k === 3 || (k >= 10000 && k < 20000) ||
  (k >= 30000 && k < 40000);
const address = (e) => `${e.kind}:${e.pubkey}:${e.kind >= 30000
  ? (e.tags.find((t) => t[0] === 'd')?.[1] ?? '') : ''}`;

function matches(f, e) {
  if (f.ids && !f.ids.includes(e.id)) return false;
  if (f.authors && !f.authors.includes(e.pubkey)) return false;
  if (f.kinds && !f.kinds.includes(e.kind)) return false;
  if (f.since !== undefined && e.created_at < f.since) return false;
  if (f.until !== undefined && e.created_at > f.until) return false;
  for (const [k, vals] of Object.entries(f))
    if (k[0] === '#' && !e.tags.some((t) => t[0] === k.slice(1) && vals.includes(t[1])))
      return false;
  return true;
}

class MemoryRepository extends EventRepository {
  constructor() {
    super();
    this.byId = new Map();
    this.byAddr = new Map();
  }

  isSearchSupported() {
    return false;
  }

  upsert(e) {
    if (this.byId.has(e.id))
      return { isDuplicate: true };
    if (versioned(e.kind)) {
      const a = address(e);
      const old = this.byAddr.get(a);
      if (old && (old.created_at > e.created_at ||
          (old.created_at === e.created_at && old.id < e.id)))
        return { isDuplicate: true };
      if (old)
        this.byId.delete(old.id);
      this.byAddr.set(a, e);
    }
    this.byId.set(e.id, e);
    return { isDuplicate: false };
  }

  find(filter) {
    const out = [];
    const pool = filter.ids ? filter.ids.map((id) => this.byId.get(id)).filter(Boolean)
      : this.byId.values();
    for (const e of pool)
      if (matches(filter, e))
        out.push(e);
    out.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
    return out.slice(0, filter.limit ?? 500);
  }

  async destroy() {}
}

const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
const relay = new NostrRelay(new MemoryRepository(), { logLevel: 3 });
const validator = new Validator();
const wss = new WebSocketServer({ host: '127.0.0.1', port });
wss.on('connection', (ws) => {
  relay.handleConnection(ws);
  ws.on('message', async (data) => {
    try {
      const msg = await validator.validateIncomingMessage(data);
      await relay.handleMessage(ws, msg);
    } catch (e) {
      ws.send(JSON.stringify(['NOTICE', e.message]));
    }
  });
  ws.on('close', () => relay.handleDisconnect(ws));
  ws.on('error', () => {});
});
wss.on('listening', () => {
  const p = wss.address().port;
  console.log(JSON.stringify({ url: `ws://127.0.0.1:${p}`, port: p, pid: process.pid }));
});
const stop = () => wss.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
