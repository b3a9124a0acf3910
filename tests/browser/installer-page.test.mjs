// Unit tests of the installer page's use of the client package (clients/js/sse-client.js, with the
// installer's hooks from examples/installer/web/static/installer.js): the ResilientStream state
// machine with the installer's status and logs endpoints, driven by a fake EventSource and a fake
// fetch; the page's shapes and agreement checks. The package's own tests are in clients/js/test.
// Run: node --test FILE
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientPath = process.env.SSE_CLIENT_JS || path.join(here, '..', '..', 'clients', 'js', 'sse-client.js');
const require = createRequire(import.meta.url);
const {
  ResilientStream, BufferingDetector, EventDeduper, fullJitterDelay, equalJitterDelay, compareIds, withQuery,
  describeInterruption, fetchJson, reloadUntil,
} = require(clientPath);
const { SHAPES, componentsAgree, historyAgrees, jobStreamOptions, doneMessage } =
  require(path.join(here, '..', '..', 'examples', 'installer', 'web', 'static', 'installer.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, timeoutMs = 3000) {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(2);
  }
}

// ---- the installer's hooks ------------------------------------------------------------------------

test('interruption messages say what the installer\'s status endpoint said', () => {
  const note = 'the install continues on the server';
  const running = describeInterruption({ ok: true, state: 'running', note: note + ' (12 lines so far)' }, { ok: true, httpStatus: 502 }, note);
  assert.equal(running.kind, 'running');
  assert.match(running.message, /interrupted, for example by a proxy's 502; the install continues on the server \(12 lines so far\)/);
  assert.equal(describeInterruption({ ok: true, finished: true, state: 'failed' }, null, note).kind, 'finished');
  const bad = describeInterruption({ ok: false, httpStatus: 502 }, { ok: true, httpStatus: 502 }, note);
  assert.equal(bad.kind, 'unreachable');
  assert.equal(bad.message, 'The stream was interrupted and the server answered 502 (a proxy cannot reach the server right now); ' +
    'the install continues on the server, and this page will catch up when it is reachable again.');
  assert.equal(describeInterruption({ ok: false, httpStatus: 404 }, null, note).kind, 'gone');
  assert.match(describeInterruption({ ok: false, error: 'network error' }, null, note).message, /cannot be reached \(network error\)/);
  assert.deepEqual(describeInterruption({ ok: false, kind: 'truncated', httpStatus: 200, error: "the server's answer was cut off" }, null, note), {
    kind: 'unreachable', message: "The stream was interrupted and the status check's answer was cut off; the install continues on the server; retrying." });
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
        if (server.resetOnResume && m) {
          // A restarted server that cannot continue from this id: `reset`, then what it retained.
          const r = server.resetOnResume;
          server.resetOnResume = null;
          this.fire('reset', { data: JSON.stringify(r.data) });
          for (const e of server.events.slice(r.from)) this.deliver(e);
          return;
        }
        for (const e of server.after(m ? decodeURIComponent(m[1]) : null)) this.deliver(e);
        this.live = true;
      }
      drop() { this.live = false; this.onerror && !this.closed && this.onerror({}); }
    };
  }

  get fetch() {
    return async (url, init) => {
      this.requests.push('fetch ' + url);
      const json = (status, body) => ({ ok: status >= 200 && status < 300, status, text: async () => JSON.stringify(body), json: async () => body });
      if (url.startsWith('/events')) {
        // The client's probe of the stream URL after an error (it aborts after the head).
        const status = this.streamMode === 'fail' ? 502 : 200;
        return { ok: status === 200, status, headers: { get: () => null }, text: async () => '' };
      }
      if (url.startsWith('/status')) {
        if (this.statusMode === '502') return json(502, null);
        if (this.statusMode === 'hang') {
          // A request on a dead connection: no answer, ever; only its AbortSignal ends it.
          return new Promise((_, reject) => init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))));
        }
        return json(200, { state: this.state, last_id: this.lastId(), lines: this.events.filter((e) => e.type === 'log').length });
      }
      if (url.startsWith('/logs')) {
        if (this.logsMode === '502') return json(502, null);
        if (this.logsMode === 'truncated-once') {
          // A body cut off by a proxy: the first bytes of the real answer, then nothing.
          this.logsMode = 'ok';
          const text = '{"state":"running","events":[{"id":"1","ty';
          return { ok: true, status: 200, text: async () => text, json: async () => JSON.parse(text) };
        }
        const m = /after=([^&]+)/.exec(url);
        if (m && this.resetAfter === decodeURIComponent(m[1])) {
          // Not a continuation of the client's `after` (the server restarted): the log from the start.
          this.resetAfter = null;
          return json(200, { state: this.state, events: this.events, last_id: this.lastId(), done: this.state !== 'running', reset: true });
        }
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
  const shown = [];   // what the page shows: cleared when the client says the log starts again
  const rs = new ResilientStream({
    ...jobStreamOptions({ events: '/events', logs: '/logs', status: '/status' }, server.fetch),
    EventSource: server.EventSource, fetch: server.fetch, share: false,
    backoff: { baseMs: 2, maxMs: 10 }, pollIntervalMs: 5, watchdogMs: 5, pingIntervalMs: 40, streamRetryMs: 30,
    onEvent: (type, data, id) => { seen.push({ type, data, id }); shown.push({ type, data, id }); },
    onState: (state, message, info) => states.push({ state, message, info, at: Date.now() }),
    onReset: () => { shown.length = 0; },
    ...extra,
  });
  started.push(rs);
  return { rs, seen, states, shown };
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
  assert.equal(doneMessage(states.at(-1).info), 'The server reports the job succeeded (exit code 0).');
  assert.equal(states.at(-1).message, 'The server reports succeeded (exit code 0).');
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
  assert.equal(doneMessage(states.at(-1).info), 'The server reports the job failed (exit code 1) (by polling).');
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
  assert.ok(states.some((s) => /the server answered 502 \(a proxy cannot reach the server right now\); the install continues on the server/.test(s.message)));
  server.streamMode = 'ok';
  server.statusMode = 'ok';
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 2));
});

test('a reset event clears what the page shows and takes the server\'s replay that follows, without showing anything twice', async () => {
  const server = new FakeServer(5);
  const { rs, seen, states, shown } = makeStream(server, { streamRetryMs: 100000 });
  rs.start();
  await until('5 events', () => seen.length === 5);
  // The server trimmed or lost its history: `reset`, then its whole log again on the same stream.
  const es = server.sources.at(-1);
  es.fire('reset', { data: JSON.stringify({ reason: 'too-old', oldest: '1', lost: 2 }) });
  for (const e of server.events) es.deliver(e);
  server.add('log', { line: 'six' });
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(shown), range(1, 7));
  assert.deepEqual(ids(seen), [...range(1, 5), ...range(1, 7)]);
  assert.equal(rs.counters.resets, 1);
  assert.equal(server.sources.length, 1, 'no new connection, no polling');
  assert.ok(states.some((s) => /could not resume after event #5 \(too-old; 2 events lost\)/.test(s.message)));
});

test('a silent stream while the server has new events is reported as buffered, then polled', async () => {
  const server = new FakeServer(2);
  const { rs, seen, states } = makeStream(server, { pingIntervalMs: 10, pingTimeoutMs: 40, streamRetryMs: 100000 });
  server.streamMode = 'silent';
  rs.start();
  await until('buffering', () => states.some((s) => s.state === 'buffering'), 3000);
  assert.match(states.find((s) => s.state === 'buffering').message,
    /^Nothing reached this page for \d\.\d s \(a ping is expected every 0\.0 s\) while the server has events up to #2: the stream looks buffered by a proxy, or its connection is dead\. Switched to polling/);
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(seen), range(1, 3));
});

test('a silent stream with nothing new on the server is reconnected (no ping came)', async () => {
  const server = new FakeServer(1);
  // 100 ms pings: a stall is declared after 2 x 100 + 250 ms, far above the 10 ms pings below even on
  // a loaded machine (with 10 ms pings a scheduling hiccup of 270 ms looked like a second stall).
  const { rs, seen, states } = makeStream(server, { pingIntervalMs: 100, pingTimeoutMs: 400 });
  rs.start();
  await until('1 event', () => seen.length === 1);
  await until('a silence notice', () => states.some((s) => /^No ping or event for .*the server answers and has nothing newer/.test(s.message)), 3000);
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
  assert.equal(doneMessage(states.at(-1).info), 'The server reports the job failed (by polling).');
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

// ---- a silent stream whose status check hangs (issue 11, item 12): exact times on a mocked clock ---

/** Runs the mocked clock forward in small steps, letting promises settle between them. */
async function advance(t, ms, step = 10) {
  for (let done = 0; done < ms; done += step) {
    t.mock.timers.tick(step);
    await new Promise((r) => setImmediate(r));
  }
}

function stallSetup(t, statusMode) {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 0 });
  const server = new FakeServer(3);
  server.statusMode = statusMode;
  // The defaults of the page (watchdog every 500 ms, status check at most 2 s) with 1 s pings.
  const made = makeStream(server, { pingIntervalMs: 1000, watchdogMs: 500, statusTimeoutMs: 2000, backoff: { baseMs: 0, maxMs: 0 } });
  return { server, ...made };
}

test('a silent stream whose status check hangs is told at 2x the ping interval and reconnected after the status timeout, with the real silent time', async (t) => {
  const { server, rs, seen, states } = stallSetup(t, 'hang');
  rs.start();
  await advance(t, 1000);
  assert.deepEqual(ids(seen), range(1, 3));
  server.sources[0].ping('p1');           // the last sign of life, at t = 1000 ms
  const lastSign = Date.now();
  assert.equal(lastSign, 1000);
  const before = states.length;
  await advance(t, 2490);                 // t = 3490: 2.49 s of silence, within the allowance
  assert.equal(states.length, before, 'nothing said while the stream is within its allowance');
  await advance(t, 10);                   // t = 3500: the first watchdog tick past 2.25 s of silence
  assert.deepEqual(states.slice(before).map((s) => [s.at, s.state, s.message]), [[3500, 'interrupted',
    'Nothing received for 2.5 s (a ping is expected every 1.0 s); asking the server what happened (waiting at most 2.0 s).']]);
  assert.equal(states.at(-1).info.probing, true);
  await advance(t, 1990);                 // t = 5490: the status check still hangs
  assert.equal(states.length, before + 1);
  assert.equal(server.sources.length, 1);
  await advance(t, 10);                   // t = 5500: it is abandoned; the stream is declared dead
  assert.deepEqual(states.slice(before + 1).map((s) => [s.at, s.state, s.message]), [[5500, 'interrupted',
    'No ping or event for 4.5 s (a ping is expected every 1.0 s); the status check did not answer within 2.0 s either: ' +
    'the stream is dead or held by a proxy; reconnecting, resuming after event #3.']]);
  assert.equal(states.at(-1).info.silentMs, 5500 - lastSign);
  assert.equal(rs.counters.stalls, 1);
  await advance(t, 20);
  assert.equal(server.sources.length, 2, 'a new stream was opened');
  assert.ok(server.sources[0].closed, 'the silent stream was closed');
  assert.equal(server.sources[1].url, '/events?lastEventId=3');
  server.statusMode = 'ok';
  server.finish('succeeded');
  await advance(t, 20);
  assert.equal(rs.state, 'done');
  assert.deepEqual(ids(seen), range(1, 4));
});

test('a silent stream whose status check answers "nothing newer" is reconnected at 2x the ping interval', async (t) => {
  const { server, rs, states } = stallSetup(t, 'ok');
  rs.start();
  await advance(t, 1000);
  server.sources[0].ping('p1');
  const before = states.length;
  await advance(t, 2510);
  assert.deepEqual(states.slice(before, before + 2).map((s) => [s.at, s.state, s.message]), [
    [3500, 'interrupted', 'Nothing received for 2.5 s (a ping is expected every 1.0 s); asking the server what happened (waiting at most 2.0 s).'],
    [3500, 'interrupted', 'No ping or event for 2.5 s (a ping is expected every 1.0 s); the server answers and has nothing newer: ' +
      'the stream is dead or held by a proxy; reconnecting, resuming after event #3.'],
  ]);
  assert.equal(server.sources.length, 2);
});

test('a status check that fails (502) during a silence also ends in a reconnect, saying so', async (t) => {
  const { server, rs, states } = stallSetup(t, '502');
  rs.start();
  await advance(t, 1000);
  server.sources[0].ping('p1');
  await advance(t, 2510);
  assert.equal(states.filter((s) => s.state === 'interrupted').at(-1).message, 'No ping or event for 2.5 s (a ping is expected every 1.0 s); the status check failed too (HTTP 502): ' +
    'the stream is dead or held by a proxy; reconnecting, resuming after event #3.');
  assert.equal(server.sources.length, 2);
});

test('a ping that arrives while the status check hangs means the stream lives: back to open, no reconnect', async (t) => {
  const { server, rs, states } = stallSetup(t, 'hang');
  rs.start();
  await advance(t, 1000);
  server.sources[0].ping('p1');
  await advance(t, 2600);                 // told at 3500, the check hangs
  server.sources[0].ping('p2');           // t = 3600: late, but alive
  await advance(t, 2000);                 // the check times out at 5500
  assert.deepEqual([states.at(-1).state, states.at(-1).message], ['open',
    'The stream is alive again (something arrived after 2.6 s of silence).']);
  assert.equal(server.sources.length, 1);
  assert.equal(rs.counters.stalls, 0);
});

// ---- resets (a crash and restart of the server; a polling answer that does not continue) --------

test('after event: reset from a restarted server the page shows the server\'s whole log and final state, not its own', async () => {
  const server = new FakeServer(5);
  const { rs, states, shown } = makeStream(server, { streamRetryMs: 100000 });
  rs.start();
  await until('5 events', () => shown.length === 5);
  // SIGKILL and restart: events 4 and 5 had been sent but never committed; the restarted server has
  // 1-3, then the interruption line, `status` failed and `done` - ids 4 to 6 now name other events.
  server.sources.at(-1).drop();
  // (Its status still says running when the page asks: the restarted server has not ended the job yet.)
  server.events = server.events.slice(0, 3);
  server.add('log', { line: 'the installer was interrupted (server restart); the job failed' });
  server.add('status', { state: 'failed' });
  server.add('done', { state: 'failed', exit_code: null });
  // The resumed stream (lastEventId=5) gets `reset`, then the whole retained log 1-6 on the same stream.
  server.resetOnResume = { data: { reason: 'unknown-id', lost: 2 }, from: 0 };
  await until('done', () => rs.state === 'done');
  assert.equal(server.sources.length, 2);
  assert.equal(server.sources[1].url, '/events?lastEventId=5');
  assert.deepEqual(shown.map((e) => [e.id, e.type, e.data.line || e.data.state]), [
    ['1', 'log', 'line 1'], ['2', 'log', 'line 2'], ['3', 'log', 'line 3'],
    ['4', 'log', 'the installer was interrupted (server restart); the job failed'], ['5', 'status', 'failed'], ['6', 'done', 'failed']]);
  assert.equal(doneMessage(states.at(-1).info), 'The server reports the job failed.');
});

test('a polling answer with "reset": true replaces the shown log: no duplicates, no gap', async () => {
  const server = new FakeServer(5);
  const { rs, states, shown } = makeStream(server, { maxStreamFailures: 1, streamRetryMs: 100000 });
  server.streamMode = 'fail';
  rs.start();
  await until('5 events by polling', () => shown.length === 5);
  // The server restarted and lost 4 and 5; its next answer to after=5 is its whole log, marked reset.
  server.events = server.events.slice(0, 3);
  server.add('log', { line: 'new 4' });
  server.resetAfter = '5';
  await until('the replaced log', () => shown.length === 4 && shown[3].data.line === 'new 4');
  assert.ok(states.some((s) => s.message === 'The server\'s log does not continue from event #5 (it restarted or trimmed its history): showing its whole log from the start.'));
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(shown.map((e) => e.data.line || e.data.state), ['line 1', 'line 2', 'line 3', 'new 4', 'succeeded']);
});

test('a truncated polling answer says the answer was cut off and retries', async () => {
  const server = new FakeServer(2);
  const { rs, states, shown } = makeStream(server, { maxStreamFailures: 1, streamRetryMs: 100000 });
  server.streamMode = 'fail';
  server.logsMode = 'truncated-once';
  rs.start();
  await until('2 events', () => shown.length === 2);
  assert.ok(states.some((s) => /^Polling failed \(the server's answer was cut off\); the install continues on the server; retrying in \d\.\d s\.$/.test(s.message)),
    JSON.stringify(states.map((s) => s.message)));
  server.finish('succeeded');
  await until('done', () => rs.state === 'done');
  assert.deepEqual(ids(shown), range(1, 3));
});

// ---- fetchJson and reloadUntil against a real HTTP server on loopback ----------------------------

import http from 'node:http';

/** A real HTTP server whose routes answer in the broken ways proxies and crashes do. */
async function brokenServer(routes) {
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const route = routes[req.url.split('?')[0]];
    if (!route) { res.writeHead(404); res.end(); return; }
    route(req, res);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, close: () => { for (const s of sockets) s.destroy(); return new Promise((r) => server.close(r)); } };
}

const COMPONENTS = JSON.stringify({ components: [{ name: 'core-runtime', installed: true, running_job: null }] });

test('fetchJson: a body cut off (Content-Length or chunked) is "cut off", never a TypeError; shapes are checked', async (t) => {
  const srv = await brokenServer({
    '/ok': (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(COMPONENTS); },
    '/cut-length': (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(COMPONENTS.length) });
      res.write(COMPONENTS.slice(0, 20));
      setTimeout(() => res.socket.destroy(), 20);
    },
    '/cut-chunked': (req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write(COMPONENTS.slice(0, 20));
      setTimeout(() => res.socket.destroy(), 20);
    },
    '/null': (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('null'); },
    '/no-list': (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"components":null}'); },
    '/502': (req, res) => { res.writeHead(502, { 'Content-Type': 'text/html' }); res.end('<html>502 Bad Gateway</html>'); },
    '/409': (req, res) => { res.writeHead(409, { 'Content-Type': 'application/json' }); res.end('{"error":"busy","job":"j1"}'); },
    '/hang-body': (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.write('{"compo'); },
    '/no-answer': () => {},
  });
  t.after(() => srv.close());
  const get = (p, shape, timeoutMs) => fetchJson(fetch, srv.base + p, { shape: SHAPES[shape], timeoutMs });
  assert.deepEqual(await get('/ok', 'components'), { ok: true, httpStatus: 200, body: JSON.parse(COMPONENTS) });
  const cut = { ok: false, kind: 'truncated', httpStatus: 200, error: "the server's answer was cut off" };
  assert.deepEqual(await get('/cut-length', 'components'), cut);
  assert.deepEqual(await get('/cut-chunked', 'components'), cut);
  assert.deepEqual(await get('/null', 'components'),
    { ok: false, kind: 'shape', httpStatus: 200, error: "the server's answer is not what this page expects (not a JSON object)" });
  assert.deepEqual(await get('/no-list', 'components'),
    { ok: false, kind: 'shape', httpStatus: 200, error: 'the server\'s answer is not what this page expects (no "components" list)' });
  assert.deepEqual(await get('/502', 'components'), { ok: false, kind: 'http', httpStatus: 502, body: null, error: 'HTTP 502' });
  assert.deepEqual(await get('/409', 'object'),
    { ok: false, kind: 'http', httpStatus: 409, body: { error: 'busy', job: 'j1' }, error: 'busy (HTTP 409)' });
  assert.deepEqual(await get('/hang-body', 'components', 150), { ok: false, kind: 'timeout', error: 'no answer within 0.1 s' });
  assert.deepEqual(await get('/no-answer', 'components', 150), { ok: false, kind: 'timeout', error: 'no answer within 0.1 s' });
  assert.deepEqual(await fetchJson(fetch, 'http://127.0.0.1:1/x', { shape: 'components' }), { ok: false, kind: 'network', error: 'network error' });
});

test('reloadUntil repeats through 502s and cut-off bodies until the answer agrees, with a capped backoff', async (t) => {
  const answers = ['502', '502', 'cut', 'stale', 'stale', 'agrees'];
  const served = [];
  const srv = await brokenServer({
    '/api/components': (req, res) => {
      const a = answers.shift() || 'agrees';
      served.push(a);
      if (a === '502') { res.writeHead(502); res.end('bad gateway'); return; }
      const running = a === 'stale' ? 'job-1' : null;
      const body = JSON.stringify({ components: [{ name: 'core-runtime', installed: a === 'agrees', running_job: running }] });
      if (a === 'cut') {
        res.writeHead(200, { 'Content-Length': String(body.length) });
        res.write(body.slice(0, 10));
        setTimeout(() => res.socket.destroy(), 10);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(body);
    },
  });
  t.after(() => srv.close());
  const attempts = [];
  const job = { id: 'job-1', component: 'core-runtime', state: 'succeeded' };
  const r = await reloadUntil(fetch, srv.base + '/api/components', {
    shape: SHAPES.components, agrees: (b) => componentsAgree(b, job), maxAttempts: 8, backoff: { baseMs: 4, maxMs: 16 }, random: () => 1,
    onAttempt: (res, a) => attempts.push([a.attempt, res.ok ? 'ok' : res.kind, a.agreed, a.willRetry, a.delayMs]),
  });
  assert.equal(r.ok, true);
  assert.equal(r.attempts, 6);
  assert.deepEqual(served, ['502', '502', 'cut', 'stale', 'stale', 'agrees']);
  assert.deepEqual(attempts, [
    [1, 'http', false, true, 4], [2, 'http', false, true, 8], [3, 'truncated', false, true, 16],
    [4, 'ok', false, true, 16], [5, 'ok', false, true, 16], [6, 'ok', true, false, 0]]);
  assert.deepEqual(r.body.components[0], { name: 'core-runtime', installed: true, running_job: null });

  // Bounded: a proxy that answers 502 forever gets maxAttempts requests, then the caller is told.
  answers.push(...Array(10).fill('502'));
  served.length = 0;
  const bounded = await reloadUntil(fetch, srv.base + '/api/components', { shape: SHAPES.components, maxAttempts: 3, backoff: { baseMs: 1, maxMs: 2 } });
  assert.deepEqual([bounded.ok, bounded.attempts, bounded.last.httpStatus, served.length], [false, 3, 502, 3]);
});

test('equal jitter stays in [cap/2, cap] with the cap growing and capped', () => {
  const b = { baseMs: 100, maxMs: 1000 };
  assert.deepEqual([0, 1, 2, 3, 4, 9].map((a) => equalJitterDelay(a, b, () => 0)), [50, 100, 200, 400, 500, 500]);
  assert.deepEqual([0, 1, 2, 3, 4, 9].map((a) => equalJitterDelay(a, b, () => 1)), [100, 200, 400, 800, 1000, 1000]);
});

test('the components list and the history agree with a finished job only when the server says so', () => {
  const job = { id: 'j1', component: 'core-runtime', state: 'succeeded' };
  const comps = (installed, running) => ({ components: [{ name: 'core-runtime', installed, running_job: running }, { name: 'x', installed: false, running_job: null }] });
  assert.equal(componentsAgree(comps(false, 'j1'), job), false);   // still "installing"
  assert.equal(componentsAgree(comps(false, null), job), false);   // "not installed" after a success
  assert.equal(componentsAgree(comps(true, 'j1'), job), false);
  assert.equal(componentsAgree(comps(true, null), job), true);
  assert.equal(componentsAgree(comps(true, 'j2'), job), true);     // a newer job of it runs: fine
  assert.equal(componentsAgree(comps(false, null), { ...job, state: 'failed' }), true);
  assert.equal(componentsAgree(comps(false, 'j1'), { ...job, state: 'failed' }), false);
  assert.equal(historyAgrees({ jobs: [{ id: 'j1', state: 'running' }] }, job), false);
  assert.equal(historyAgrees({ jobs: [{ id: 'j1', state: 'succeeded' }] }, job), true);
  assert.equal(historyAgrees({ jobs: [] }, job), true);
});
