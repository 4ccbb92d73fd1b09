// Load generator for bench/relay.sh, four modes:
//
//   sign --count N --out FILE     N unique ~400-byte kind-1 events from 64
//                                 authors, signed with nostr-tools (its wasm
//                                 build: pure JS takes minutes), JSON lines
//   load --url URL --events FILE [--conns C] [--window W] [--reqs R]
//        publish every event over C connections (W unacknowledged per
//        connection at most) and time until the last OK; meanwhile (a
//        probe process) and afterwards, time REQ -> EOSE round trips
//   idle --url URL --pid PID [--conns N]
//        RSS of PID before and after opening N idle websockets
//   probe --url URL --authors A,B,...
//        (started by load) REQ round trips 5 ms apart until stdin closes
//
// Each mode prints one JSON line (probe: "ready" first). Packages come from tests/interop.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { WebSocket, newKey, wasmFinalizeEvent } from '../tests/interop/relay_common.mjs';

const args = process.argv.slice(3);
const mode = process.argv[2];
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};

async function sign() {
  const finalizeEvent = await wasmFinalizeEvent();
  const n = Number(opt('--count', 20000));
  const keys = Array.from({ length: 64 }, () => newKey().sk);
  const words = 'the relay nostr note zap sats good morning bitcoin lightning signal key client event'
    .split(' ');
  const base = Math.floor(Date.now() / 1000) - n;
  const lines = [];
  for (let i = 0; i < n; i++) {
    let content = '';
    while (content.length < 60)
      content += words[(i * 7 + content.length) % words.length] + ' ';
    const ev = finalizeEvent({ kind: 1, created_at: base + i, tags: [['t', 'bench']],
      content: `${content}#${i}` }, keys[i % keys.length]);
    lines.push(JSON.stringify(ev));
  }
  writeFileSync(opt('--out'), lines.join('\n') + '\n');
  const bytes = lines.reduce((s, l) => s + l.length, 0);
  console.log(JSON.stringify({ events: n, avg_bytes: Math.round(bytes / n) }));
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 << 20 });
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : null;
};

// sequential REQ -> EOSE round trips until stop() or count is reached,
// the next one `gap` ms after the last EOSE (so a probe during the ingest
// measures latency without becoming a load of its own)
function reqLoop(ws, authors, count, gap = 0) {
  const times = [];
  let stopped = false, i = 0, t0 = 0, resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  const next = () => {
    if (stopped || (count && times.length >= count))
      return resolveDone(times);
    t0 = performance.now();
    ws.send(JSON.stringify(['REQ', `q${i}`, { authors: [authors[i % authors.length]],
      kinds: [1], limit: 10 }]));
  };
  ws.on('message', (d) => {
    const s = d.toString();
    if (!s.startsWith('["EOSE"') && !s.startsWith('["CLOSED"'))
      return;
    times.push(performance.now() - t0);
    ws.send(JSON.stringify(['CLOSE', `q${i++}`]));
    if (gap)
      setTimeout(next, gap);
    else
      next();
  });
  next();
  return { done, stop: () => { stopped = true; resolveDone(times); } };
}

async function load() {
  const lines = readFileSync(opt('--events'), 'utf8').split('\n').filter(Boolean);
  const conns = Number(opt('--conns', 8));
  const window = Number(opt('--window', 256));
  const reqs = Number(opt('--reqs', 300));
  const authors = [...new Set(lines.slice(0, 64).map((l) => JSON.parse(l).pubkey))];
  const sockets = await Promise.all(Array.from({ length: conns }, () => open(opt('--url'))));
  const probe = await open(opt('--url'));
  // the probe during the burst runs in its own process: in this one, its
  // EOSEs would queue behind thousands of OKs and time Node, not the relay
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'probe',
    '--url', opt('--url'), '--authors', authors.join(',')], { stdio: ['pipe', 'pipe', 'inherit'] });
  let childOut = '';
  child.stdout.on('data', (d) => { childOut += d; });
  await new Promise((r) => child.stdout.once('data', r)); // "ready"
  let oks = 0, refused = 0, answered = 0;
  const reasons = {};
  const t0 = performance.now();
  await new Promise((resolve) => {
    sockets.forEach((ws, c) => {
      const mine = lines.filter((_, i) => i % conns === c);
      let sent = 0;
      const send = () => ws.send('["EVENT",' + mine[sent++] + ']');
      ws.on('message', (d) => {
        const s = d.toString();
        if (!s.startsWith('["OK"'))
          return;
        const m = s.startsWith(',true,', 72) ? null : JSON.parse(s);
        if (!m || m[2]) {
          oks++;
        } else {
          refused++;
          reasons[m[3]] = (reasons[m[3]] || 0) + 1;
        }
        if (sent < mine.length)
          send();
        if (++answered === lines.length)
          resolve();
      });
      while (sent < Math.min(window, mine.length))
        send();
    });
  });
  const secs = (performance.now() - t0) / 1000;
  const childDone = new Promise((r) => child.on('exit', r));
  child.stdin.end();
  await childDone;
  const underTimes = JSON.parse(childOut.split('\n').filter(Boolean).pop());
  const idle = await reqLoop(probe, authors, reqs).done;
  for (const ws of [...sockets, probe])
    ws.terminate();
  console.log(JSON.stringify({
    events: lines.length, conns, window, seconds: secs, ok: oks, refused, reasons,
    ok_per_s: oks / secs,
    req_under_load: { n: underTimes.length, p50_ms: pct(underTimes, 0.5), p99_ms: pct(underTimes, 0.99) },
    req_idle: { n: idle.length, p50_ms: pct(idle, 0.5), p99_ms: pct(idle, 0.99) },
  }));
}

// REQ round trips, 5 ms apart, until stdin closes; prints "ready", then
// the list of times
async function probe() {
  const ws = await open(opt('--url'));
  const loop = reqLoop(ws, opt('--authors').split(','), 0, 5);
  console.log('ready');
  process.stdin.resume();
  await new Promise((r) => process.stdin.on('end', r));
  loop.stop();
  console.log(JSON.stringify(await loop.done));
}

const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

async function idle() {
  const pid = Number(opt('--pid'));
  const n = Number(opt('--conns', 1000));
  await new Promise((r) => setTimeout(r, 300));
  const before = rss(pid);
  const socks = [];
  for (let i = 0; i < n; i += 50)
    socks.push(...await Promise.all(Array.from({ length: Math.min(50, n - i) },
      () => open(opt('--url')))));
  await new Promise((r) => setTimeout(r, 1000));
  const after = rss(pid);
  for (const ws of socks)
    ws.terminate();
  console.log(JSON.stringify({ conns: n, rss_before: before, rss_after: after,
    bytes_per_conn: (after - before) / n }));
}

const modes = { sign, load, idle, probe };
if (!modes[mode]) {
  console.error('usage: node relay_ingest.mjs sign|load|idle [options] (see the top of the file)');
  process.exit(2);
}
await modes[mode]();
process.exit(0);
