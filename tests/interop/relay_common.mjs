// Helpers for the `hearth relay` tests and bench/relay_ingest.mjs: start a
// relay on a free port with its own data dir, speak raw NIP-01 over the
// `ws` package (to see exactly what the relay sends), and make events.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure';

export { WebSocket };

export function tempDir(prefix = 'hearth-relay-') {
  return mkdtempSync(join(process.env.TMPDIR || tmpdir(), prefix));
}

// Start `hearth relay --port 0 --json` (the kernel picks a free port, the
// JSON line says which) and resolve once it listens.
export function startRelay(hearth, args = [], opts = {}) {
  const data = opts.data || join(tempDir(), 'db');
  const proc = spawn(hearth, ['relay', '--port', '0', '--json', '--data', data, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (opts.echo)
      process.stderr.write(d);
  });
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout });
    const timer = setTimeout(() => reject(new Error('relay did not start: ' + stderr)), 10000);
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`relay exited (${code ?? sig}) before listening: ${stderr}`));
    });
    rl.once('line', (line) => {
      clearTimeout(timer);
      const info = JSON.parse(line);
      const exited = new Promise((res) => proc.once('exit', (code, sig) => res({ code, sig })));
      resolve({
        ...info, proc, data, exited,
        stderr: () => stderr,
        // SIGTERM and wait; resolves with the exit code
        async stop(signal = 'SIGTERM') {
          if (proc.exitCode === null && proc.signalCode === null)
            proc.kill(signal);
          return exited;
        },
      });
    });
  });
}

// A raw websocket client that keeps every message the relay sent, so a test
// can wait for the first one that matches a predicate.
export class RawClient {
  constructor(url) {
    this.url = url;
    this.msgs = [];
    this.waiters = [];
    this.closed = null;
  }

  static async open(url, opts) {
    const c = new RawClient(url);
    await c.connect(opts);
    return c;
  }

  connect(opts = {}) {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url, { maxPayload: 64 << 20, ...opts });
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
      this.ws.on('message', (d) => {
        const m = JSON.parse(d.toString());
        this.msgs.push(m);
        this.waiters = this.waiters.filter((w) => !w.check());
      });
      this.ws.on('close', (code, reason) => {
        this.closed = { code, reason: reason.toString() };
        this.waiters = this.waiters.filter((w) => !w.check());
      });
    });
  }

  send(msg) {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  // resolves with the first message from index `from` on that pred accepts
  wait(pred, ms = 5000, what = 'message', from = 0) {
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const m = this.msgs.slice(from).find(pred);
          if (m !== undefined) {
            clearTimeout(w.t);
            resolve(m);
            return true;
          }
          if (this.closed && w.stopOnClose) {
            clearTimeout(w.t);
            reject(new Error(`connection closed waiting for ${what}`));
            return true;
          }
          return false;
        },
        stopOnClose: true,
      };
      w.t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      if (!w.check())
        this.waiters.push(w);
    });
  }

  ok(id, ms, from = 0) {
    return this.wait((m) => m[0] === 'OK' && m[1] === id, ms, `OK for ${id.slice(0, 8)}`, from);
  }

  // resolves with the OK message that answers this EVENT
  async publish(ev, ms) {
    const from = this.msgs.length;
    this.send(['EVENT', ev]);
    return this.ok(ev.id, ms, from);
  }

  // REQ: resolves with {events, end} where end is the EOSE or CLOSED
  async req(subid, ...filters) {
    const from = this.msgs.length;
    this.send(['REQ', subid, ...filters]);
    const end = await this.wait((m) => (m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === subid,
      5000, `EOSE of ${subid}`, from);
    const events = this.msgs.slice(from).filter((m) => m[0] === 'EVENT' && m[1] === subid)
      .map((m) => m[2]);
    return { events, end };
  }

  // the next message of a type (after everything seen so far)
  next(type, ms) {
    return this.wait((m) => m[0] === type, ms, type, this.msgs.length);
  }

  waitClose(ms = 5000) {
    if (this.closed)
      return Promise.resolve(this.closed);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timed out waiting for close')), ms);
      this.ws.once('close', () => {
        clearTimeout(t);
        resolve(this.closed);
      });
    });
  }

  close() {
    try {
      this.ws.terminate();
    } catch {
      // already gone
    }
  }
}

export function newKey() {
  const sk = generateSecretKey();
  return { sk, pk: getPublicKey(sk) };
}

export const now = () => Math.floor(Date.now() / 1000);

let made = 0;
export function makeEvent(key, fields = {}) {
  return finalizeEvent({
    kind: 1, created_at: now(), tags: [], content: `hello ${++made}`, ...fields,
  }, key.sk);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function cleanup(dir) {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // best effort
  }
}

// finalizeEvent from nostr-tools' WebAssembly build (libsecp256k1): about
// ten times faster than the pure-JS one, for benchmarks that sign a lot
export async function wasmFinalizeEvent() {
  const { setNostrWasm, finalizeEvent } = await import('nostr-tools/wasm');
  const { initNostrWasm } = await import('nostr-wasm');
  setNostrWasm(await initNostrWasm());
  return finalizeEvent;
}
