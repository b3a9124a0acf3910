// Unit tests of the installer page's JavaScript client (examples/installer/web/static/sse-client.js):
// the pure parts (full-jitter backoff, id order, dedupe, buffering detector, messages) and the
// ResilientStream state machine driven by a fake EventSource and a fake fetch. Run: node --test FILE
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientPath = process.env.SSE_CLIENT_JS ||
  path.join(here, '..', '..', 'examples', 'installer', 'web', 'static', 'sse-client.js');
const require = createRequire(import.meta.url);
const {
  ResilientStream, BufferingDetector, EventDeduper, fullJitterDelay, compareIds, withQuery, describeInterruption,
} = require(clientPath);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(2);
  }
}

// ---- pure helpers -------------------------------------------------------------------------------

test('full jitter: uniform in [0, min(max, base * 2^attempt)]', () => {
  const b = { baseMs: 100, maxMs: 1000 };
  assert.equal(fullJitterDelay(0, b, () => 0), 0);
  assert.equal(fullJitterDelay(0, b, () => 0.999999), 99);
  assert.equal(fullJitterDelay(1, b, () => 0.5), 100);
  assert.equal(fullJitterDelay(3, b, () => 0.5), 400);
  assert.equal(fullJitterDelay(4, b, () => 0.999999), 999);     // capped by maxMs
  assert.equal(fullJitterDelay(1000, b, () => 0.5), 500);        // no overflow for huge attempts
  for (let i = 0; i < 200; ++i) {
    const d = fullJitterDelay(i % 8, b);
    assert.ok(d >= 0 && d <= Math.min(1000, 100 * 2 ** (i % 8)), `delay ${d}`);
  }
  // Full jitter really spreads: many clients do not reconnect at the same instant.
  const spread = new Set(Array.from({ length: 50 }, () => fullJitterDelay(5, b)));
  assert.ok(spread.size > 10);
});

test('event ids are ordered numerically, part by part, then by length and text', () => {
  assert.ok(compareIds('9', '10') < 0);
  assert.ok(compareIds('10', '9') > 0);
  assert.equal(compareIds('42', '42'), 0);
  assert.equal(compareIds('007', '7'), 0);
  assert.ok(compareIds('1700000000000-3', '1700000000000-12') < 0);
  assert.ok(compareIds('1700000000001-0', '1700000000000-99') > 0);
  assert.ok(compareIds(null, '1') < 0);
  assert.ok(compareIds('1', '') > 0);
  assert.ok(compareIds('123456789012345678901234567890', '123456789012345678901234567891') < 0);
  assert.ok(compareIds('b', 'a') > 0);
  // The installer's ids: a run prefix (hex) and a sequence number.
  assert.ok(compareIds('a3dc01d359551b27-9', 'a3dc01d359551b27-10') < 0);
  assert.ok(compareIds('a3dc01d359551b27-13', 'a3dc01d359551b27-5') > 0);
  assert.equal(compareIds('a3dc01d359551b27-5', 'a3dc01d359551b27-05'), 0);
});

test('the deduper accepts each id exactly once and tracks the last one', () => {
  const d = new EventDeduper();
  assert.equal(d.accept('1'), true);
  assert.equal(d.accept('2'), true);
  assert.equal(d.accept('1'), false);
  assert.equal(d.accept(2), false);   // numbers and strings are the same id
  assert.equal(d.lastId, '2');
  assert.equal(d.accept(null), true); // no id: nothing to dedupe on
  assert.equal(d.lastId, '2');
  assert.equal(d.duplicates, 2);
  assert.equal(d.size, 2);
});

test('withQuery appends parameters and leaves out empty ones', () => {
  assert.equal(withQuery('/e', { lastEventId: '5' }), '/e?lastEventId=5');
  assert.equal(withQuery('/e?x=1', { after: 'a b', limit: 10 }), '/e?x=1&after=a%20b&limit=10');
  assert.equal(withQuery('/e', { lastEventId: null, after: '' }), '/e');
});

test('buffering detector: silence past the ping allowance, server ahead => buffered', () => {
  const d = new BufferingDetector({ pingIntervalMs: 1000 });
  assert.equal(d.silenceLimitMs, 3500);
  d.reset(0);
  assert.equal(d.overdue(3000), false);
  assert.equal(d.overdue(3600), true);
  d.activity(3600);
  assert.equal(d.overdue(4000), false);
  assert.equal(d.classify({ overdue: false, serverAhead: true }), 'ok');
  assert.equal(d.classify({ overdue: true, serverAhead: true }), 'buffered');
  assert.equal(d.classify({ overdue: true, serverAhead: false }), 'silent');
  const comments = new BufferingDetector({ pingIntervalMs: 1000, pingEvents: false });
  assert.equal(comments.classify({ overdue: true, serverAhead: false }), 'ok');   // idle is fine
  assert.equal(comments.classify({ overdue: true, serverAhead: true }), 'buffered');
  assert.equal(new BufferingDetector({ pingIntervalMs: 1000, silenceLimitMs: 777 }).silenceLimitMs, 777);
});

test('buffering detector: pings on time are fine, pings flushed in a burst are not', () => {
  const d = new BufferingDetector({ pingIntervalMs: 1000 });
  d.reset(0);
  for (let t = 1000; t <= 10000; t += 1000) assert.equal(d.notePing(t + (t % 3) * 10), 'ok');
  const b = new BufferingDetector({ pingIntervalMs: 1000 });
  b.reset(0);
  assert.equal(b.notePing(1000), 'ok');
  // Then nothing for 5 s, and three pings at once: a proxy flushed its buffer.
  assert.equal(b.notePing(6000), 'ok');
  assert.equal(b.notePing(6005), 'ok');
  assert.equal(b.notePing(6010), 'burst');
});

test('interruption messages say what the status endpoint said', () => {
  const running = describeInterruption({ ok: true, status: { state: 'running', lines: 12 } });
  assert.equal(running.kind, 'running');
  assert.match(running.message, /interrupted, for example by a proxy's 502; the install continues on the server \(12 lines so far\)/);
  assert.equal(describeInterruption({ ok: true, status: { state: 'failed' } }).kind, 'finished');
  const bad = describeInterruption({ ok: false, httpStatus: 502 });
  assert.equal(bad.kind, 'unreachable');
  assert.match(bad.message, /answered 502 \(a proxy cannot reach the server right now\)/);
  assert.equal(describeInterruption({ ok: false, httpStatus: 404 }).kind, 'unknown-job');
  assert.match(describeInterruption({ ok: false, error: 'network error' }).message, /cannot be reached \(network error\)/);
});

// ---- ResilientStream with a fake EventSource and a fake server ----------------------------------

/** A job on a fake server: events with ids 1..n; its streams, logs and status. */
class FakeServer {
  constructor(lines) {
    this.events = [];
    this.state = 'running';
    this.streamMode = 'ok';      // ok | fail (every EventSource errors at once)
    this.statusMode = 'ok';      // ok | 502
    this.logsMode = 'ok';
    this.sources = [];
    this.requests = [];
    for (let i = 1; i <= lines; ++i) this.add('log', { seq: i, line: 'line ' + i });
  }
  add(type, data) {
    const ev = { id: String(this.events.length + 1), type, data };
    this.events.push(ev);
    for (const es of this.sources) if (!es.closed && es.live) es.deliver(ev);
    return ev;
  }
  finish(state) { this.state = state; this.add('done', { state, exit_code: state === 'succeeded' ? 0 : 1, lines: this.events.length }); }
  lastId() { return this.events.length ? this.events.at(-1).id : null; }
  after(id) { return this.events.filter((e) => id == null || Number(e.id) > Number(id)); }

  get EventSource() {
    const server = this;
    return class FakeEventSource {
      constructor(url) {
        this.url = url;
        this.listeners = {};
        this.closed = false;
        this.live = false;
        server.sources.push(this);
        server.requests.push('stream ' + url);
        setTimeout(() => this.connect(), 1);
      }
      addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
      close() { this.closed = true; }
      fire(type, ev) { if (!this.closed) for (const fn of this.listeners[type] || []) fn(ev); }
      deliver(e) { this.fire(e.type, { data: JSON.stringify(e.data), lastEventId: e.id }); }
      ping(id) { this.fire('ping', { data: String(id), lastEventId: this.lastSeen || '' }); }
      connect() {
        if (this.closed) return;
        if (server.streamMode === 'fail') { this.onerror && this.onerror({}); return; }
        this.onopen && this.onopen({});
        if (server.pingOnConnect) this.ping('hello');
        const m = /lastEventId=([^&]+)/.exec(this.url);
        if (server.streamMode === 'silent') return;   // a buffering proxy: open, nothing comes through
        for (const e of server.after(m ? decodeURIComponent(m[1]) : null)) this.deliver(e);
        this.live = true;
      }
      drop() { this.live = false; this.onerror && !this.closed && this.onerror({}); }
    };
  }

  get fetch() {
    return async (url) => {
      this.requests.push('fetch ' + url);
      const json = (status, body) => ({ ok: status >= 200 && status < 300, status, json: async () => body });
      if (url.startsWith('/status')) {
        if (this.statusMode === '502') return json(502, null);
        return json(200, { state: this.state, last_id: this.lastId(), lines: this.events.filter((e) => e.type === 'log').length });
      }
      if (url.startsWith('/logs')) {
        if (this.logsMode === '502') return json(502, null);
        const m = /after=([^&]+)/.exec(url);
        if (m && !this.events.some((e) => e.id === decodeURIComponent(m[1]))) return json(400, { error: 'unknown id' });
        const events = this.after(m ? decodeURIComponent(m[1]) : null);
        return json(200, { state: this.state, events, last_id: this.lastId(), done: this.state !== 'running' });
      }
      return json(404, { error: 'no' });
    };
  }
}

const started = [];
afterEach(() => { while (started.length) started.pop().stop(); });  // even when a test fails

function makeStream(server, extra = {}) {
  const seen = [];
  const states = [];
  const rs = new ResilientStream({
    eventsUrl: '/events', logsUrl: '/logs', statusUrl: '/status',
    EventSource: server.EventSource, fetch: server.fetch,
    backoff: { baseMs: 2, maxMs: 10 }, pollIntervalMs: 5, watchdogMs: 5, pingIntervalMs: 40, streamRetryMs: 30,
    onEvent: (type, data, id) => seen.push({ type, data, id }),
    onState: (state, message) => states.push({ state, message }),
    ...extra,
  });
  started.push(rs);
  return { rs, seen, states };
}

const ids = (seen) => seen.map((e) => e.id);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => String(a + i));

test('streams every event once and finishes on the server\'s done', async () => {
  const server = new FakeServer(3);
  const { rs, seen, states } = makeStream(server);
  rs.start();
  await until('3 events', () => seen.length === 3);
  server.add('log', { line: 'four' });
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 5));
  assert.equal(seen.at(-1).type, 'done');
  assert.match(states.at(-1).message, /reports the job succeeded \(exit code 0\)/);
  assert.equal(rs.transport, 'stream');
  rs.stop();
});

test('after a cut it asks the status endpoint, says so, resumes with lastEventId, and never repeats', async () => {
  const server = new FakeServer(4);
  const { rs, seen, states } = makeStream(server);
  rs.start();
  await until('4 events', () => seen.length === 4);
  server.sources.at(-1).drop();
  server.add('log', { line: 'while cut' });
  await until('a reconnect', () => server.sources.length === 2 && server.sources[1].live);
  assert.match(server.sources[1].url, /\/events\?lastEventId=4$/);
  assert.ok(server.requests.some((r) => r === 'fetch /status'), 'the status endpoint was asked');
  assert.ok(states.some((s) => s.state === 'retrying' && /the install continues on the server/.test(s.message)));
  // A stream that replays what we already have (an overlap) does not duplicate anything.
  server.sources[1].deliver(server.events[2]);
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 6));
  assert.equal(rs.counters.duplicates, 1);
});

test('repeated stream failures while the server answers switch to polling, which completes', async () => {
  const server = new FakeServer(2);
  const { rs, seen, states } = makeStream(server, { maxStreamFailures: 3, streamRetryMs: 100000 });
  server.streamMode = 'fail';
  rs.start();
  await until('polling', () => rs.transport === 'polling');
  const streams = server.sources.length;
  assert.equal(streams, 3);
  assert.ok(states.some((s) => s.state === 'polling' && /failed 3 times in a row.*switched to polling/.test(s.message)));
  server.add('log', { line: 'by polling' });
  server.finish('failed');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 4));
  assert.match(states.at(-1).message, /reports the job failed \(exit code 1\) \(by polling\)/);
});

test('while polling it tries the stream again and goes back to it when it works', async () => {
  const server = new FakeServer(1);
  const { rs, seen, states } = makeStream(server, { maxStreamFailures: 2, streamRetryMs: 20 });
  server.streamMode = 'fail';
  rs.start();
  await until('polling', () => rs.transport === 'polling');
  await until('a failed trial', () => server.sources.length >= 3);
  server.streamMode = 'ok';
  server.pingOnConnect = true;  // a stream that works shows it by an event or a ping
  server.add('log', { line: 'two' });
  await until('back to streaming', () => rs.transport === 'stream' && rs.state === 'open', 5000);
  assert.ok(states.some((s) => /Streaming works again/.test(s.message)));
  const polls = server.requests.filter((r) => r.startsWith('fetch /logs')).length;
  server.add('log', { line: 'three' });
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 4));
  assert.ok(server.requests.filter((r) => r.startsWith('fetch /logs')).length <= polls + 1, 'polling stopped');
});

test('failures while nothing answers (a proxy\'s 502) keep retrying the stream instead of polling', async () => {
  const server = new FakeServer(1);
  const { rs, seen, states } = makeStream(server, { maxStreamFailures: 2 });
  rs.start();
  await until('1 event', () => seen.length === 1);
  server.streamMode = 'fail';
  server.statusMode = '502';
  server.sources.at(-1).drop();
  await until('several attempts', () => server.sources.length >= 5);
  assert.equal(rs.transport, 'stream');
  assert.ok(states.some((s) => /status endpoint answered 502 \(a proxy cannot reach the server right now\)/.test(s.message)));
  server.streamMode = 'ok';
  server.statusMode = 'ok';
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 2));
});

test('a reset event makes it read the whole log by polling, without showing anything twice', async () => {
  const server = new FakeServer(5);
  const { rs, seen, states } = makeStream(server, { pollLimit: 2, streamRetryMs: 100000 });
  rs.start();
  await until('5 events', () => seen.length === 5);
  server.sources.at(-1).fire('reset', { data: JSON.stringify({ reason: 'too-old', oldest: '3', lost: 2 }) });
  server.add('log', { line: 'six' });
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 7));
  assert.ok(states.some((s) => /could not resume.*too-old; 2 events/.test(s.message)));
  assert.ok(server.requests.includes('fetch /logs?limit=2'), 'polling started from the beginning');
});

test('a silent stream while the server has new events is reported as buffered, then polled', async () => {
  const server = new FakeServer(2);
  const { rs, seen, states } = makeStream(server, { pingIntervalMs: 10, pingTimeoutMs: 40, streamRetryMs: 100000 });
  server.streamMode = 'silent';
  rs.start();
  await until('buffering', () => states.some((s) => s.state === 'buffering'), 3000);
  assert.match(states.find((s) => s.state === 'buffering').message, /buffered by a proxy: the server has events up to #2/);
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 3));
});

test('a silent stream with nothing new on the server is reconnected (no ping came)', async () => {
  const server = new FakeServer(1);
  const { rs, seen, states } = makeStream(server, { pingIntervalMs: 10, pingTimeoutMs: 150 });
  rs.start();
  await until('1 event', () => seen.length === 1);
  await until('a silence notice', () => states.some((s) => /No ping for/.test(s.message)), 3000);
  await until('a new stream', () => server.sources.length >= 2);
  // Pings keep a quiet stream alive.
  const n = server.sources.length;
  const es = server.sources.at(-1);
  for (let i = 0; i < 10; ++i) { await sleep(10); es.ping(i); }
  assert.equal(server.sources.length, n);
  assert.ok(rs.lastPingAt > 0);
  rs.stop();
  assert.deepEqual(ids(seen), ['1']);
});

test('the final state is the server\'s even when polling never saw a done event', async () => {
  const server = new FakeServer(2);
  const { rs, states } = makeStream(server, { maxStreamFailures: 1, streamRetryMs: 100000 });
  server.streamMode = 'fail';
  server.state = 'failed'; // finished without a done event in the log
  rs.start();
  await until('done', () => rs.state === 'done');
  assert.match(states.at(-1).message, /reports the job failed/);
});

test('stop() silences everything', async () => {
  const server = new FakeServer(1);
  const { rs, seen } = makeStream(server);
  rs.start();
  rs.stop();
  await sleep(30);
  server.add('log', {});
  assert.equal(seen.length, 0);
});

test('polling from an id the server does not know (400) reads the whole log again, once', async () => {
  const server = new FakeServer(3);
  const { rs, seen, states } = makeStream(server, { maxStreamFailures: 1, streamRetryMs: 100000 });
  server.streamMode = 'fail';
  rs.start('bogus-9');
  await until('done', () => { if (server.events.length === 3) server.finish('succeeded'); return rs.state === 'done'; });
  assert.deepEqual(ids(seen), range(1, 4));
  assert.ok(states.some((s) => /does not know event #bogus-9; reading the whole log again/.test(s.message)));
});
