// A fake OpenAI-compatible backend for tests/unit/test_runner_openai.c,
// speaking chat completions the way llama.cpp server, Ollama and vLLM do:
// node builtins only. It listens on 127.0.0.1, port 0, prints the port on
// stdout, and exits when stdin closes (so it dies with the test).
//
// The request's model picks the behaviour:
//   usage      SSE, one word per chunk, then a usage chunk (prompt_tokens
//              42, completion_tokens = words + 100, so the test can tell
//              the backend's count from a local one), then [DONE]
//   nousage    SSE with CRLF line ends, comments and id fields, no usage
//   nonstream  ignores "stream": one application/json completion
//   error      HTTP 500 with an OpenAI error body (two-line message)
//   errorecho  HTTP 400 whose message repeats the prompt (must not leak)
//   missing    HTTP 404, model not found
//   midstream  two chunks, then an error object inside the stream
//   garbage    a data line that is not JSON
//   nodone     chunks, then the connection ends without finish or [DONE]
//   hang       headers, then nothing
//   slow       one chunk every 50 ms for a long time
//   long       max_tokens chunks of "abcd " (finish_reason "length")
//   params     one chunk describing the request (never its text)
// The generated text is the user message's words in reverse order, so the
// test can check it without the server keeping or logging anything.
// A request carrying an Authorization header other than "Bearer test-key"
// gets 401.
import http from 'node:http';

const MODELS = ['usage', 'nousage', 'nonstream', 'error', 'errorecho',
  'midstream', 'garbage', 'nodone', 'hang', 'slow', 'long', 'params'];
const MAX_BODY = 4 << 20;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function chunk(model, delta, finish) {
  return {
    id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1,
    model, choices: [{ index: 0, delta, finish_reason: finish ?? null }],
  };
}

function userText(req) {
  const msgs = Array.isArray(req.messages) ? req.messages : [];
  const user = msgs.filter((m) => m.role === 'user').pop();
  return typeof user?.content === 'string' ? user.content : '';
}

function words(req) {
  return userText(req).split(/\s+/).filter(Boolean).reverse();
}

// write SSE text in small pieces so events arrive split at odd places
async function writeSplit(res, text, state) {
  for (let i = 0; i < text.length && !state.closed; i += 7) {
    res.write(text.slice(i, i + 7));
    await sleep(0);
  }
}

function sseHead(res) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache' });
}

async function stream(req, res, state) {
  const model = req.model;
  const crlf = model === 'nousage';
  const nl = crlf ? '\r\n' : '\n';
  const ev = (obj) => `data: ${JSON.stringify(obj)}${nl}${nl}`;
  const ws = words(req);
  sseHead(res);
  if (crlf)
    await writeSplit(res, `: ping${nl}${nl}`, state);
  for (let i = 0; i < ws.length && !state.closed; i++) {
    const piece = (i ? ' ' : '') + ws[i];
    const extra = crlf ? `id: ${i}${nl}` : '';
    await writeSplit(res, extra + ev(chunk(model, { content: piece })), state);
    if (model === 'midstream' && i === 1) {
      await writeSplit(res, ev({ error: { message: 'out of memory',
        type: 'server_error' } }), state);
      return res.end();
    }
    if (model === 'garbage' && i === 0) {
      await writeSplit(res, `data: {"choices": [${nl}${nl}`, state);
      return res.end();
    }
  }
  if (model === 'nodone')
    return res.end();
  await writeSplit(res, ev(chunk(model, {}, 'stop')), state);
  if (model === 'usage' && req.stream_options?.include_usage === true) {
    await writeSplit(res, ev({ id: 'chatcmpl-fake',
      object: 'chat.completion.chunk', choices: [],
      usage: { prompt_tokens: 42, completion_tokens: ws.length + 100,
        total_tokens: 142 + ws.length } }), state);
  }
  await writeSplit(res, `data: [DONE]${nl}${nl}`, state);
  res.end();
}

async function slow(req, res, state) {
  sseHead(res);
  for (let i = 0; i < 100000 && !state.closed; i++) {
    res.write(`data: ${JSON.stringify(chunk(req.model, { content: 'x ' }))}\n\n`);
    await sleep(50);
  }
  res.end();
}

async function long(req, res, state) {
  const n = Number.isInteger(req.max_tokens) ? req.max_tokens : 16;
  sseHead(res);
  let batch = '';
  for (let i = 0; i < n && !state.closed; i++) {
    batch += `data: ${JSON.stringify(chunk(req.model, { content: 'abcd ' }))}\n\n`;
    if (batch.length > 4096 || i === n - 1) {
      res.write(batch);
      batch = '';
      await sleep(0);
    }
  }
  res.write(`data: ${JSON.stringify(chunk(req.model, {}, 'length'))}\n\n`);
  res.end('data: [DONE]\n\n');
}

function describe(req) {
  const msgs = Array.isArray(req.messages) ? req.messages : [];
  const sys = msgs.filter((m) => m.role === 'system');
  return [`max_tokens=${req.max_tokens}`, `temperature=${req.temperature}`,
    `top_p=${req.top_p}`, `seed=${req.seed}`, `stream=${req.stream}`,
    `include_usage=${req.stream_options?.include_usage}`,
    `system_messages=${sys.length}`,
    `system_bytes=${sys.length ? Buffer.byteLength(sys[0].content) : 0}`,
    `user_messages=${msgs.filter((m) => m.role === 'user').length}`,
    `user_bytes=${Buffer.byteLength(userText(req))}`].join(' ');
}

function json(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

async function chat(req, res, state) {
  const model = req.model;
  switch (model) {
  case 'error':
    return json(res, 500, { error: { message: 'the model crashed\nwhile ' +
      'loading', type: 'server_error', code: 500 } });
  case 'errorecho':
    return json(res, 400, { error: { message: `cannot tokenize: ${userText(req)}`,
      type: 'invalid_request_error' } });
  case 'nonstream': {
    const text = words(req).join(' ');
    return json(res, 200, { id: 'chatcmpl-fake', object: 'chat.completion',
      model, choices: [{ index: 0, message: { role: 'assistant',
        content: text }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 7, completion_tokens: 9, total_tokens: 16 } });
  }
  case 'hang':
    sseHead(res);
    res.flushHeaders();
    return;   // and nothing more, until the client goes away
  case 'slow':
    return slow(req, res, state);
  case 'long':
    return long(req, res, state);
  case 'params':
    sseHead(res);
    res.write(`data: ${JSON.stringify(chunk(model, { content: describe(req) }, 'stop'))}\n\n`);
    return res.end('data: [DONE]\n\n');
  case 'usage': case 'nousage': case 'midstream': case 'garbage':
  case 'nodone':
    return stream(req, res, state);
  default:
    return json(res, 404, { error: { message: `model '${model}' not found`,
      type: 'not_found_error' } });
  }
}

const server = http.createServer((req, res) => {
  const state = { closed: false };
  res.on('close', () => { state.closed = true; });
  const auth = req.headers.authorization;
  if (auth !== undefined && auth !== 'Bearer test-key') {
    req.resume();
    return json(res, 401, { error: { message: 'invalid api key' } });
  }
  if (req.method === 'GET' && req.url === '/v1/models') {
    return json(res, 200, { object: 'list',
      data: MODELS.map((id) => ({ id, object: 'model', owned_by: 'fake' })) });
  }
  if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
    req.resume();
    return json(res, 404, { error: { message: 'no such route' } });
  }
  const parts = [];
  let size = 0;
  req.on('data', (d) => {
    size += d.length;
    if (size <= MAX_BODY)
      parts.push(d);
  });
  req.on('end', () => {
    let body;
    try {
      if (size > MAX_BODY)
        throw new Error('too big');
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      return json(res, 400, { error: { message: 'bad request body' } });
    }
    chat(body, res, state).catch(() => res.destroy());
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
