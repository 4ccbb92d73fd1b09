// Helpers for the job tests: start `hearth run` peers (embedded relay or a
// given one) and wait for their ready line; build NIP-13 delegation inputs;
// wait for NIP-90 replies over a raw websocket.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { bytesToHex } from '@noble/hashes/utils.js';
import { getEventHash } from 'nostr-tools/pure';
import { tempDir } from './relay_common.mjs';

// Start `hearth run`; resolves with {pubkey, relays, proc, data, stderr(),
// stop()} once the peer printed its ready line.
export function startPeer(hearth, args = [], opts = {}) {
  const data = opts.data || join(tempDir('hearth-peer-'), 'data');
  const key = opts.key || bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
  const proc = spawn(hearth, ['run', '--data', data, '--key', key, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.env || {}) } });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (opts.echo || process.env.HEARTH_TEST_ECHO)
      process.stderr.write(d);
  });
  const exited = new Promise((res) => proc.once('exit', (code, sig) => res({ code, sig })));
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout });
    const timer = setTimeout(() => reject(new Error('peer did not start: ' + stderr)), 20000);
    proc.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`peer exited (${code ?? sig}) before it was ready: ${stderr}`));
    });
    rl.once('line', (line) => {
      clearTimeout(timer);
      const info = JSON.parse(line);
      resolve({
        ...info, key, proc, data, exited,
        stderr: () => stderr,
        async stop(signal = 'SIGTERM') {
          if (proc.exitCode === null && proc.signalCode === null)
            proc.kill(signal);
          return exited;
        },
      });
    });
  });
}

// The unsigned event a customer wants mined (NIP-13 delegation input).
export function unsignedNote(pubkey, content = 'mine me', tags = [['t', 'hearth']]) {
  return { pubkey, created_at: Math.floor(Date.now() / 1000), kind: 1, tags, content };
}

export function leadingZeroBits(hex) {
  let n = 0;
  for (const c of hex) {
    const v = parseInt(c, 16);
    if (v === 0) {
      n += 4;
      continue;
    }
    return n + Math.clz32(v) - 28;
  }
  return n;
}

// Check a 5970 result's content against the input the customer sent:
// returns '' when fine, else what is wrong.
export function checkMined(content, input, target) {
  let ev;
  try {
    ev = JSON.parse(content);
  } catch {
    return 'result is not JSON';
  }
  if (getEventHash(ev) !== ev.id)
    return 'id does not match the event';
  if (leadingZeroBits(ev.id) < target)
    return `only ${leadingZeroBits(ev.id)} leading zero bits`;
  const nonce = ev.tags.filter((t) => t[0] === 'nonce');
  if (nonce.length !== 1 || Number(nonce[0][2]) < target)
    return 'no nonce tag committing the target';
  const rest = ev.tags.filter((t) => t[0] !== 'nonce');
  if (ev.pubkey !== input.pubkey || ev.created_at !== input.created_at ||
      ev.kind !== input.kind || ev.content !== input.content ||
      JSON.stringify(rest) !== JSON.stringify(input.tags))
    return 'fields other than the nonce changed';
  return '';
}
