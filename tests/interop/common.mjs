// Shared helpers for the nostr-tools interop tests: a seeded PRNG, random
// well-formed Unicode, running the hearth binary, and failure bookkeeping.
// Everything random is derived from one seed so a failure can be replayed
// with HEARTH_INTEROP_SEED=<seed printed in the summary>.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEFAULT_SEED = 0x4ea27b1d;

export function seedFromEnv() {
  const s = process.env.HEARTH_INTEROP_SEED;
  if (s === undefined || s === '')
    return DEFAULT_SEED;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new Error(`HEARTH_INTEROP_SEED must be an integer 0..2^32-1, got ${s}`);
  return n;
}

// sfc32 seeded through splitmix32: tiny, fast, and good enough that the
// generated cases do not fall into short cycles.
export function makeRng(seed) {
  let z = seed >>> 0;
  const mix = () => {
    z = (z + 0x9e3779b9) >>> 0;
    let t = z;
    t = Math.imul(t ^ (t >>> 16), 0x21f0aaad);
    t = Math.imul(t ^ (t >>> 15), 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
  let a = mix(), b = mix(), c = mix(), d = 1;
  const u32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 16; i++)
    u32();
  const r = {
    u32,
    // uniform in [0, 1) with 53 random bits
    float: () => ((u32() >>> 5) * 67108864 + (u32() >>> 6)) / 9007199254740992,
    // uniform integer in [lo, hi], exact for spans up to 2^53
    int: (lo, hi) => {
      const span = hi - lo + 1;
      if (span <= 0x100000000)
        return lo + Math.floor((u32() / 0x100000000) * span);
      return Math.min(hi, lo + Math.floor(r.float() * span));
    },
    chance: (p) => r.float() < p,
    pick: (arr) => arr[r.int(0, arr.length - 1)],
    bytes: (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++)
        out[i] = u32() & 0xff;
      return out;
    },
  };
  return r;
}

// Code points chosen to stress JSON escaping and UTF-8 encoding: every C0
// control (JSON.stringify escapes them, short forms for seven), DEL and C1
// (which it does not), the JS line separators U+2028/2029, encoding length
// boundaries, BOM and noncharacters, combining marks and astral planes.
const C0 = Array.from({ length: 32 }, (_, i) => i);
const SPECIAL = [0x22, 0x5c, 0x2f, 0x27, 0x60, 0x7f, 0x80, 0x9f, 0xa0, 0xad,
  0x7ff, 0x800, 0x2028, 0x2029, 0x200b, 0x200d, 0x202e, 0xfeff, 0xfffd,
  0xfffe, 0xffff, 0xd7ff, 0xe000, 0x10000, 0x1f600, 0x1f9d1, 0xe0041,
  0x10ffff, 0xfffff];

function randomCodePoint(r) {
  switch (r.int(0, 11)) {
  case 0: return r.pick(C0);
  case 1: return r.pick(SPECIAL);
  case 2: return r.int(0x80, 0x7ff);                     // 2-byte UTF-8
  case 3: { const c = r.int(0x800, 0xfffd);              // 3-byte, no surrogates
    return c >= 0xd800 && c <= 0xdfff ? c - 0x800 : c; }
  case 4: return r.int(0x10000, 0x10ffff);               // astral
  case 5: return r.int(0x1f300, 0x1faff);                // emoji blocks
  case 6: return r.int(0x300, 0x36f);                    // combining marks
  case 7: return r.int(0x4e00, 0x9fff);                  // CJK
  default: return r.int(0x20, 0x7e);                     // printable ASCII
  }
}

// A well-formed string (no lone surrogates) of about `units` UTF-16 code
// units, built from runs so that long strings stay cheap to generate.
export function randomText(r, units) {
  const parts = [];
  let n = 0;
  while (n < units) {
    let s;
    const k = r.int(0, 9);
    if (k < 4) {
      const len = r.int(1, 24);
      const cs = [];
      for (let i = 0; i < len; i++)
        cs.push(r.int(0x20, 0x7e));
      s = String.fromCharCode(...cs);
    } else if (k === 4) {
      // a base letter followed by a stack of combining marks
      const cs = [r.int(0x61, 0x7a)];
      for (let i = r.int(1, 8); i > 0; i--)
        cs.push(r.int(0x300, 0x36f));
      s = String.fromCodePoint(...cs);
    } else if (k === 5) {
      // ZWJ emoji sequence
      s = String.fromCodePoint(0x1f468, 0x200d, 0x1f469, 0x200d, 0x1f467);
    } else {
      s = String.fromCodePoint(randomCodePoint(r));
    }
    parts.push(s);
    n += s.length;
  }
  return parts.join('');
}

// A string of about `bytes` UTF-8 bytes with few characters JSON must
// escape, so huge contents stay well inside hearth's 4 MiB line bound.
export function bigText(r, bytes) {
  const parts = [];
  let n = 0;
  while (n < bytes) {
    const s = randomText(r, 64);
    const safe = s.replace(/[\u0000-\u001f"\\]/g, '.');
    // keep a few escapes in: they are what ids most often disagree on
    parts.push(r.chance(0.05) ? s : safe);
    n += Buffer.byteLength(parts[parts.length - 1]);
  }
  return parts.join('');
}

export function hearthFromArgv() {
  const p = process.argv[2] || process.env.HEARTH;
  if (!p || !existsSync(p)) {
    console.error(`usage: node ${process.argv[1]} PATH/TO/hearth (got ${p})`);
    process.exit(2);
  }
  return p;
}

// Run hearth once with `input` on stdin; output is raw Buffers.
export function runHearth(hearth, args, input) {
  const res = spawnSync(hearth, args, {
    input,
    maxBuffer: 1 << 30,
    timeout: 300000,
  });
  if (res.error)
    throw res.error;
  return res;
}

export function splitLines(buf) {
  const s = buf.toString('utf8');
  const lines = s.split('\n');
  if (lines.length && lines[lines.length - 1] === '')
    lines.pop();
  return lines;
}

// Collects mismatches; prints the first few (reproducers cut short) and
// counts the rest, so a systematic bug does not flood the log. Every
// failing case goes in full to a file named in the summary.
export class Report {
  constructor(name, seed) {
    this.name = name;
    this.seed = seed;
    this.checks = 0;
    this.failures = 0;
    this.shown = 0;
    this.file = join(process.env.TMPDIR || tmpdir(), `hearth-${name}-failures.txt`);
  }

  ok(cond, what, repro) {
    this.checks++;
    if (cond)
      return true;
    let r = repro === undefined ? '' : typeof repro === 'string' ? repro
      : JSON.stringify(repro);
    if (this.failures++ === 0)
      writeFileSync(this.file, '');
    appendFileSync(this.file, `${what}\n${r}\n\n`);
    if (this.shown < 10) {
      this.shown++;
      if (r.length > 2000)
        r = r.slice(0, 2000) + `... (${r.length} chars)`;
      console.error(`${this.name}: MISMATCH: ${what}${r ? '\n  ' + r : ''}`);
    }
    return false;
  }

  finish(details) {
    const status = this.failures
      ? `FAIL ${this.failures} of ${this.checks} checks (all cases in ${this.file})`
      : `OK ${this.checks} checks`;
    console.log(`${this.name}: ${status}; ${details} (seed ${this.seed})`);
    process.exit(this.failures ? 1 : 0);
  }
}

export const hex = (u8) => Buffer.from(u8).toString('hex');
