// A plain Node.js SSE fan-out server (node:http only), a peer in the fan-out benchmark.
//   GET  /events/{topic}    text/event-stream (chunked), `: ok` at once, then live events
//   POST /publish/{topic}   body = data; encodes `id: N\ndata: ...\n\n` once, writes the same Buffer
//                           to every subscriber, answers 202 {"id":"N"}
// Usage: node node-server.mjs [--port N] [--bind ADDR]
// Prints `node-sse listening on http://ADDR:PORT` on stdout (so --port 0 works).
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const port = Number(opt('--port', '8080'));
const bind = opt('--bind', '127.0.0.1');

/** topic -> { subs: Set<ServerResponse>, seq: number } */
const topics = new Map();
const topicOf = (name) => {
  let t = topics.get(name);
  if (!t) topics.set(name, (t = { subs: new Set(), seq: 0 }));
  return t;
};

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url.startsWith('/events/')) {
    const t = topicOf(url.slice(8).split('?')[0]);
    req.socket.setNoDelay(true);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-store, no-transform',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.write(': ok\n\n');
    t.subs.add(res);
    res.on('close', () => t.subs.delete(res));
    return;
  }
  if (req.method === 'POST' && url.startsWith('/publish/')) {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const t = topicOf(url.slice(9).split('?')[0]);
      const id = String(++t.seq);
      const data = Buffer.concat(chunks).toString('utf8');
      const lines = data.split(/\r\n|\r|\n/).map((l) => `data: ${l}\n`).join('');
      const buf = Buffer.from(`id: ${id}\n${lines}\n`);
      for (const s of t.subs) s.write(buf);
      const body = JSON.stringify({ id });
      res.writeHead(202, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  res.writeHead(404, { 'Content-Length': 0 });
  res.end();
});

server.keepAliveTimeout = 120_000;
server.headersTimeout = 60_000;
server.requestTimeout = 0;
server.listen({ port, host: bind, backlog: 4096 }, () => {
  const a = server.address();
  process.stdout.write(`node-sse listening on http://${a.address}:${a.port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
