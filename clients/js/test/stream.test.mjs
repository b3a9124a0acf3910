// Unit tests of ResilientStream on a generic endpoint (no hooks): resume with lastEventId, what the
// stream URL answers after an error (204 stops, 404 fails, 503 with Retry-After waits), reset and gap,
// named events and `done`, the watchdog without a status hook.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { FakeServer, sleep, until } from './fakes.mjs';

const require = createRequire(import.meta.url);
const { ResilientStream } = require('../sse-client.js');

const started = [];
afterEach(() => { while (started.length) started.pop().stop(); });

function make(server, extra = {}) {
  const seen = [];
  const states = [];
  const resets = [];
  const gaps = [];
  const rs = new ResilientStream({
    url: '/events/news', share: false, EventSource: server.EventSource, fetch: server.fetch,
    backoff: { baseMs: 2, maxMs: 10 }, watchdogMs: 5, pingIntervalMs: 1000,
    onEvent: (type, data, id) => seen.push({ type, data, id }),
    onState: (state, message, info) => states.push({ state, message, info }),
    onReset: (info) => resets.push(info),
    onGap: (info) => gaps.push(info),
    ...extra,
  });
  started.push(rs);
  return { rs, seen, states, resets, gaps };
}
const ids = (seen) => seen.map((e) => e.id);

test('resumes after a cut with ?lastEventId=, probes the stream URL, and never repeats an event', async () => {
  const server = new FakeServer();
  const { rs, seen, states } = make(server);
  rs.start();
  await until('open', () => server.open === 1);
  server.add('message', 'a');
  server.add('message', 'b');
  await until('2 events', () => seen.length === 2);
  server.sources[0].drop();
  server.add('message', 'c');
  await until('resumed', () => server.open === 1 && seen.length === 3);
  assert.equal(server.sources[1].url, '/events/news?lastEventId=2');
  assert.ok(server.requests.includes('fetch /events/news?lastEventId=2 text/event-stream'), server.requests.join('\n'));
  assert.ok(states.some((s) => s.state === 'retrying' && /the server answers again/.test(s.message)));
  server.sources[1].deliver(server.events[1]);     // an overlap: dropped
  server.add('message', 'd');
  await until('4 events', () => seen.length === 4);
  assert.deepEqual(ids(seen), ['1', '2', '3', '4']);
  assert.deepEqual(seen.map((e) => e.data), ['a', 'b', 'c', 'd']);
  assert.equal(rs.counters.duplicates, 1);
  assert.equal(rs.role, 'solo');
});

test('a 204 from the stream URL ends the stream for good: done, no more connections', async () => {
  const server = new FakeServer();
  const { rs, states } = make(server);
  rs.start();
  await until('open', () => server.open === 1);
  server.probeStatus = 204;
  server.sources[0].drop();
  await until('done', () => rs.state === 'done');
  assert.deepEqual([states.at(-1).state, states.at(-1).message, states.at(-1).info.how], ['done', 'The server ended the stream (204 No Content).', '204']);
  await sleep(30);
  assert.equal(server.sources.length, 1);
});

test('401/403/404/410 from the stream URL fail for good (what a native EventSource would do, but said)', async () => {
  for (const status of [401, 403, 404, 410]) {
    const server = new FakeServer();
    const { rs, states } = make(server);
    rs.start();
    await until('open', () => server.open === 1);
    server.probeStatus = status;
    server.sources[0].drop();
    await until('failed', () => rs.state === 'failed');
    assert.equal(states.at(-1).message, `The server refuses the stream (HTTP ${status}).`);
    await sleep(20);
    assert.equal(server.sources.length, 1);
    rs.stop();
  }
});

test('a 503 with Retry-After: the reconnect waits at least what the server asked, bounded by maxRetryAfterMs', async () => {
  const server = new FakeServer();
  const { rs, states } = make(server, { backoff: { baseMs: 2, maxMs: 10, maxRetryAfterMs: 60 } });
  rs.start();
  await until('open', () => server.open === 1);
  server.mode = 'fail';
  server.probeStatus = 503;
  server.probeHeaders = { 'Retry-After': '120' };
  const t0 = Date.now();
  server.sources[0].drop();
  await until('retrying', () => states.some((s) => s.state === 'retrying'));
  const r = states.find((s) => s.state === 'retrying');
  assert.equal(r.info.retryAfterMs, 60);
  assert.equal(r.info.delayMs, 60);
  assert.equal(r.info.httpStatus, 503);
  assert.match(r.message, /answered 503 \(a proxy cannot reach the server right now\).* Reconnecting in 0\.1 s \(the server asked for 0\.1 s\) \(attempt 1\)\.$/);
  server.mode = 'ok';
  await until('reconnected', () => server.sources.length === 2);
  assert.ok(Date.now() - t0 >= 55, 'waited for Retry-After');
});

test('without a poll hook it never switches to polling: it keeps reconnecting with backoff', async () => {
  const server = new FakeServer();
  const { rs, states } = make(server, { maxStreamFailures: 1 });
  server.mode = 'fail';
  rs.start();
  await until('several attempts', () => server.sources.length >= 4);
  assert.equal(rs.transport, 'stream');
  assert.ok(!states.some((s) => s.state === 'polling'));
  assert.ok(states.some((s) => /^Still interrupted/.test(s.message)), 'a repeated trouble is said briefly');
});

test('event: reset clears the page (onReset) and the replay that follows is delivered again; event: gap calls onGap', async () => {
  const server = new FakeServer();
  const { rs, seen, resets, gaps, states } = make(server);
  rs.start();
  await until('open', () => server.open === 1);
  server.add('message', 'a');
  server.add('message', 'b');
  await until('2', () => seen.length === 2);
  const es = server.sources[0];
  es.fire('reset', { data: '{"reason":"too-old","oldest":"1","lost":3}', lastEventId: '2' });
  for (const e of server.events) es.deliver(e);     // the server's replay from its oldest event
  es.fire('gap', { data: '{"skipped":5,"first":"3","last":"7"}', lastEventId: '2' });
  await until('replayed', () => seen.length === 4);
  assert.deepEqual(ids(seen), ['1', '2', '1', '2']);
  assert.deepEqual(resets, [{ reason: 'too-old', oldest: '1', lost: 3 }]);
  assert.deepEqual(gaps, [{ skipped: 5, first: '3', last: '7' }]);
  assert.ok(states.some((s) => /could not resume after event #2 \(too-old; 3 events lost\)/.test(s.message)));
  assert.deepEqual([rs.counters.resets, rs.counters.gaps], [1, 1]);
});

test('named events: only the types asked for; `done` is delivered and ends the stream with the server\'s data', async () => {
  const server = new FakeServer();
  const { rs, seen, states } = make(server, { events: ['tick'], doneEvent: 'end' });
  rs.start();
  await until('open', () => server.open === 1);
  server.add('tick', { n: 1 });
  server.add('other', { n: 2 });
  server.add('tick', { n: 3 });
  server.add('end', { state: 'closed' });
  await until('done', () => rs.state === 'done');
  assert.deepEqual(seen.map((e) => [e.type, e.id]), [['tick', '1'], ['tick', '3'], ['end', '4']]);
  assert.deepEqual(seen[0].data, { n: 1 });
  assert.equal(states.at(-1).message, 'The server reports closed.');
  assert.deepEqual(rs.final, { state: 'closed' });
});

test('the watchdog without a status hook: a stream silent past 2 pings + 0.25 s is reconnected, saying so', async () => {
  const server = new FakeServer();
  const { rs, states } = make(server, { pingIntervalMs: 100, pingTimeoutMs: 300 });
  rs.start();
  await until('a silence notice', () => states.some((s) => /^No ping or event for \d\.\d s \(a ping is expected every 0\.1 s\); no status check is configured: the stream is dead or held by a proxy; reconnecting\.$/.test(s.message)), 3000);
  await until('a new stream', () => server.sources.length >= 2);
  assert.equal(rs.counters.stalls >= 1, true);
  // Pings keep a quiet stream alive.
  const n = server.sources.length;
  const es = server.sources.at(-1);
  await until('open', () => es.live);
  const t0 = Date.now();
  while (Date.now() - t0 < 700) { await sleep(100); es.ping(); }   // on time, for more than twice the allowance
  assert.equal(server.sources.length, n);
});

test('pings flushed in a burst after a silence mean buffering: without poll, a reconnect', async () => {
  const server = new FakeServer();
  const { rs, states } = make(server, { pingIntervalMs: 40, pingTimeoutMs: 100000 });
  rs.start();
  await until('open', () => server.open === 1);
  await sleep(80);
  const es = server.sources[0];
  es.ping(); es.ping(); es.ping();
  await until('buffering', () => states.some((s) => s.state === 'buffering'));
  assert.match(states.find((s) => s.state === 'buffering').message, /^Pings arrive in a burst \(3 within 0\.0 s after 0\.\d s of silence\): the stream looks buffered by a proxy\. Reconnecting in/);
  await until('reconnected', () => server.sources.length === 2);
});

test('withCredentials and a custom lastEventIdParam reach the EventSource; stop() silences everything', async () => {
  const server = new FakeServer(0, { replayAll: true });
  const inits = [];
  const ES = class extends server.EventSource { constructor(url, init) { super(url); inits.push(init); } };
  const { rs, seen } = make(server, { EventSource: ES, withCredentials: true, lastEventIdParam: 'from' });
  server.add('message', 'x');
  rs.start('0');
  await until('1', () => seen.length === 1);
  assert.deepEqual(inits, [{ withCredentials: true }]);
  assert.equal(server.sources[0].url, '/events/news?from=0');
  rs.stop();
  server.add('message', 'y');
  await sleep(20);
  assert.equal(seen.length, 1);
});

test('no EventSource and no poll hook: failed, said once', async () => {
  const { rs, states } = make(new FakeServer(), { EventSource: null });
  rs.env.EventSource = null;
  rs.start();
  assert.deepEqual(states.map((s) => [s.state, s.message]), [['failed', 'This browser has no EventSource.']]);
});
