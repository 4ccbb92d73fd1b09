// Helpers for the relay-pool interop tests (pool_*.mjs): starting and
// stopping relays (the npm relay in js_relay.mjs, `hearth relay`, the
// misbehaving evil_relay.mjs), running `hearth req` / `hearth publish`
// asynchronously, and talking to a relay directly with `ws`.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { finalizeEvent, generateSecretKey, getPublicKey } from 'nostr-tools/pure';
import WebSocket from 'ws';

export const here = dirname(fileURLToPath(import.meta.url));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function tmpDir(tag) {
  return mkdtempSync(join(process.env.TMPDIR || tmpdir(), `hearth-${tag}-`));
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A child process whose stdout lines are collected as they come.
class Child {
  constructor(cmd, args, opts = {}) {
    this.lines = [];
    this.stderr = '';
    this.waiters = [];
    this.p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
    let buf = '';
    this.p.stdout.on('data', (d) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
        this.poke();
      }
    });
    this.p.stderr.on('data', (d) => { this.stderr += d.toString(); });
    this.exited = new Promise((resolve) => {
      this.p.on('close', (code, signal) => {
        if (buf)
          this.lines.push(buf);
        this.code = code;
        this.signal = signal;
        this.poke();
        resolve(code);
      });
    });
  }

  poke() {
    for (const w of this.waiters.splice(0))
      w();
  }

  // resolves once pred(lines) holds; rejects after ms
  async waitFor(pred, ms, what) {
    const end = Date.now() + ms;
    while (!pred(this.lines)) {
      if (this.code !== undefined || Date.now() > end)
        throw new Error(`timed out waiting for ${what}; ${this.lines.length} ` +
          `lines; stderr: ${this.stderr.slice(-2000)}`);
      await Promise.race([new Promise((r) => this.waiters.push(r)), sleep(100)]);
    }
  }

  kill(sig = 'SIGTERM') {
    if (this.code === undefined && !this.p.killed)
      this.p.kill(sig);
    return this.exited;
  }
}

async function startRelayProcess(cmd, args, opts) {
  const c = new Child(cmd, args, opts);
  await c.waitFor((l) => l.some((x) => x.includes('"url"')), 15000,
    `relay ${args.join(' ')}`);
  c.url = JSON.parse(c.lines.find((x) => x.includes('"url"'))).url;
  return c;
}

export function startJsRelay(args = []) {
  return startRelayProcess(process.execPath, [join(here, 'js_relay.mjs'), ...args],
    { cwd: here });
}

export function startHearthRelay(hearth, dataDir, port, args = []) {
  return startRelayProcess(hearth, ['relay', '--data', dataDir, '--port',
    String(port), '--json', ...args], {});
}

export function startEvilRelay(args = []) {
  return startRelayProcess(process.execPath, [join(here, 'evil_relay.mjs'), ...args],
    { cwd: here });
}

// Run hearth to completion: { code, out: [lines], err }
export async function hearthRun(hearth, args, input = '', env = {}, ms = 60000) {
  const c = new Child(hearth, args, { env: { ...process.env, ...env } });
  c.p.stdin.end(input);
  const t = setTimeout(() => c.kill('SIGKILL'), ms);
  await c.exited;
  clearTimeout(t);
  return { code: c.code, signal: c.signal, out: c.lines, err: c.stderr };
}

export function hearthSpawn(hearth, args, env = {}) {
  const c = new Child(hearth, args, { env: { ...process.env, ...env } });
  return c;
}

export function newKey() {
  const sk = generateSecretKey();
  return { sk, pk: getPublicKey(sk), hex: Buffer.from(sk).toString('hex') };
}

export function makeEvent(key, fields = {}) {
  return finalizeEvent({
    kind: 1,
    created_at: Math.floor(Date.now() / 1000),
    tags: [],
    content: '',
    ...fields,
  }, key.sk);
}

// Send events straight to a relay and wait for every OK.
export async function publishDirect(url, events, ms = 10000) {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.on('open', resolve);
    ws.on('error', reject);
  });
  const want = new Set(events.map((e) => e.id));
  const oks = new Map();
  const done = new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no OK for ${want.size - oks.size} events`)), ms);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m[0] === 'OK' && want.has(m[1])) {
        oks.set(m[1], m[2]);
        if (oks.size === want.size) {
          clearTimeout(t);
          resolve();
        }
      }
    });
  });
  for (const e of events)
    ws.send(JSON.stringify(['EVENT', e]));
  await done;
  ws.close();
  return oks;
}

// Every REQ line `relay --log` recorded: [subid, ...filters]
export function reqsInLog(text) {
  return text.split('\n').filter((l) => l.startsWith('["REQ"'))
    .map((l) => JSON.parse(l).slice(1));
}

export function eventsInLog(text, id) {
  return text.split('\n').filter((l) => l.startsWith('["EVENT"') &&
    (!id || JSON.parse(l)[1].id === id)).length;
}

export class Checks {
  constructor(name) {
    this.name = name;
    this.n = 0;
    this.failed = 0;
    this.cleanups = [];
  }

  ok(cond, what, detail) {
    this.n++;
    if (!cond) {
      this.failed++;
      console.error(`${this.name}: FAIL: ${what}${detail === undefined ? '' : '\n  ' +
        String(typeof detail === 'string' ? detail : JSON.stringify(detail)).slice(0, 3000)}`);
    }
    return cond;
  }

  defer(fn) { this.cleanups.push(fn); }

  async finish(extra = '') {
    for (const fn of this.cleanups.reverse()) {
      try { await fn(); } catch { /* best effort */ }
    }
    console.log(`${this.name}: ${this.failed ? 'FAIL' : 'OK'} ${this.n - this.failed} ` +
      `of ${this.n} checks${extra ? '; ' + extra : ''}`);
    process.exit(this.failed ? 1 : 0);
  }

  // run one scenario, turning exceptions into a failed check
  async step(what, fn) {
    const t0 = Date.now();
    try {
      await fn();
    } catch (e) {
      this.ok(false, `${what}: ${e.message}`);
    }
    console.log(`  ${what} (${Date.now() - t0} ms)`);
  }
}

export function cleanupDir(dir) {
  return () => rmSync(dir, { recursive: true, force: true });
}

// an environment where hearth finds no default key
export function noKeyEnv(dir) {
  return { HOME: dir, XDG_CONFIG_HOME: join(dir, 'cfg'), HEARTH_KEY: '' };
}
